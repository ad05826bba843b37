"""Secrets sealed at rest: AES-256-GCM under a key ring, so a copy of Redis reveals none.

``BRIDGE_SECRETS_KEYS`` is ``kid:base64key,kid2:base64key``. The first key seals; every key
opens, which is how keys rotate: put a new key first, reseal (``bridge secrets reseal``),
then drop the old one. A sealed value reads ``sealed:<kid>:<base64url(nonce ‖ ciphertext ‖
tag)>`` with a fresh random 96-bit nonce, and is bound to a *context* (associated data) that
says where it lives, so a sealed value copied anywhere else does not open.

Nothing here puts key material or a plain secret into a message or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.errors import BridgeError

__all__ = ["CAUSES", "SEALED_PREFIX", "KeyRing", "SecretUnreadable", "is_sealed", "new_key"]

SEALED_PREFIX = "sealed:"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's native nonce size
_KID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class SecretUnreadable(BridgeError):
    """A stored secret that the key ring cannot open. ``kid`` names the key it claims (None
    when it is not a sealed value at all); ``cause`` is one of :data:`CAUSES`."""

    def __init__(self, kid: str | None, cause: str) -> None:
        where = f"key {kid!r}" if kid else "no key"
        super().__init__(f"stored secret does not open ({where}): {CAUSES[cause]}")
        self.kid = kid
        self.cause = cause


CAUSES = {
    "unknown_key": "its key is not in BRIDGE_SECRETS_KEYS",
    "altered": "altered, or sealed for another place",
    "not_sealed": "not a sealed value",
}


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def new_key() -> str:
    """A fresh 256-bit key, base64: the part after ``kid:`` in ``BRIDGE_SECRETS_KEYS``."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


class KeyRing:
    """The keys secrets are sealed with (the first) and opened with (any)."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not _KID.fullmatch(kid):
                raise ValueError("a key id may only use letters, digits and _ . - (1-32)")
            if kid in self._ciphers:
                raise ValueError(f"key id {kid!r} appears twice")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {kid!r} must be exactly {KEY_BYTES} bytes")
            self._ciphers[kid] = AESGCM(key)
        self.sealing_kid = keys[0][0]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """From ``kid:base64key,…``; a ValueError names the entry and key id, never a key."""
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
            if not entry:
                continue
            kid, colon, encoded = entry.partition(":")
            kid = kid.strip()
            if not colon or not kid:
                raise ValueError(f"entry {number} is not kid:base64key")
            if not _KID.fullmatch(kid):
                # Not echoed: what stands before the colon may be a key written without its id.
                raise ValueError(
                    f"entry {number}: a key id may only use letters, digits and _ . - (1-32)"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"entry {number} (key {kid!r}): key is not base64") from None
            keys.append((kid, key))
        return cls(keys)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"KeyRing(kids={self.kids!r})"

    def seal(self, plaintext: str, context: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.sealing_kid].encrypt(nonce, plaintext.encode(), context)
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{SEALED_PREFIX}{self.sealing_kid}:{body}"

    def open(self, value: str, context: bytes) -> str:
        """The plain text of a sealed ``value`` if it was sealed for ``context`` with a key of
        the ring; :class:`SecretUnreadable` otherwise."""
        kid = self.kid_of(value)
        if kid is None:
            raise SecretUnreadable(None, "not_sealed")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SecretUnreadable(kid, "unknown_key")
        body = value[len(SEALED_PREFIX) + len(kid) + 1 :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretUnreadable(kid, "altered") from None

    def kid_of(self, value: str) -> str | None:
        """The key id a sealed value names; None if it is not a sealed value."""
        if not is_sealed(value):
            return None
        kid = value[len(SEALED_PREFIX) :].partition(":")[0]
        return kid if _KID.fullmatch(kid) else None

    def is_current(self, value: str) -> bool:
        """Sealed with the sealing key (nothing for a reseal to do)."""
        return self.kid_of(value) == self.sealing_kid
