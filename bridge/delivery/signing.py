"""Standard Webhooks signatures (https://www.standardwebhooks.com) on the webhooks we send.

Receivers check us with any Standard Webhooks library, so nothing here is ours to choose:
``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` keyed with the base64-decoded
secret, over the exact body bytes on the wire. While a rotated secret overlaps, the header
carries one signature per secret separated by spaces, so a receiver holding either accepts.

:func:`verify` serves our tests and the local receiver. Unlike the reference library it fails
closed: a missing, malformed or stale header is ``False``, never an exception, because a
verifier that raises on attacker-controlled input invites a caller to treat "raised" as "ok".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from secrets import token_bytes

from bridge.errors import BridgeError

__all__ = [
    "SECRET_PREFIX",
    "InvalidSecret",
    "headers",
    "new_secret",
    "secret_bytes",
    "sign",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SECRET_BYTES = 24
_VERSION = "v1"
# Integer UTC seconds only: a float, sign or exponent means the sender is not one of us.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class InvalidSecret(BridgeError, ValueError):
    """A webhook secret that is not ``whsec_`` followed by a non-empty base64 key."""


def new_secret() -> str:
    """A fresh signing secret, in the ``whsec_`` form every Standard Webhooks library reads."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(_SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; raises :class:`InvalidSecret` if it is not
    base64 or is empty.

    Missing ``=`` padding is tolerated, as the reference library does, so a secret copied
    without its padding still works. The message never contains the secret.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("webhook secret is not base64 after the whsec_ prefix") from None
    if not key:
        raise InvalidSecret("webhook secret is empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated."""
    if isinstance(secrets, str):
        # A lone str is a Sequence[str] too; signing with each character would be nonsense.
        raise TypeError("sign() takes a sequence of secrets, not a single string")
    if not secrets:
        raise ValueError("sign() needs at least one secret")
    stamp = str(int(timestamp))
    return " ".join(
        f"{_VERSION},{base64.b64encode(_digest(secret_bytes(s), msg_id, stamp, body)).decode()}"
        for s in secrets
    )


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt of one delivery.

    ``msg_id`` is the event id, the same on every retry so receivers can deduplicate;
    ``timestamp`` is the attempt's time, so a retry is never rejected as stale.
    """
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """True when any ``v1`` signature in ``headers`` matches ``body`` under ``secret``.

    Fails closed: missing headers, a timestamp that is not integer seconds or lies more than
    ``tolerance`` seconds from ``now`` (replays and clock games), malformed entries, and even
    an unusable ``secret`` all give ``False``. Header names are matched case-insensitively.
    """
    try:
        key = secret_bytes(secret)
    except InvalidSecret:
        return False
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        return False
    stamp = stamp.strip()
    if not _TIMESTAMP.fullmatch(stamp):
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    expected = _digest(key, msg_id, stamp, body)
    matched = False
    for entry in signatures.split(" "):
        version, comma, encoded = entry.partition(",")
        if version != _VERSION or not comma:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # No early return: the time taken does not reveal which entry matched.
        matched |= hmac.compare_digest(expected, candidate)
    return matched
