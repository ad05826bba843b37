"""A subscription's signing secrets as they rest in Redis: sealed (bridge.sealing).

Each secret is sealed for where it lives: the account, the subscription and its role
(``current``, or ``previous`` while a rotation overlaps), so a sealed secret copied into
another subscription, another account or another role does not open. Secrets are opened
only to sign a delivery and, once, to carry the current one over as previous in a rotation.

Records written before secrets were sealed hold plain ``whsec_`` values. Those still sign, so
an upgrade does not stop deliveries; the next write of the subscription (an edit, a
rotation) seals them, and ``bridge secrets reseal`` seals every one at once. Any other value
that does not open is :class:`~bridge.sealing.SecretUnreadable`: never guessed at.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from bridge.delivery.signing import SECRET_PREFIX
from bridge.delivery.subscriptions import PreviousSecret, Subscription
from bridge.sealing import KeyRing, is_sealed

__all__ = ["Role", "SealedSecrets", "context"]

Role = Literal["current", "previous"]

# Opened secrets kept per process, by where they live and their sealed value: every delivery
# signs, and opening one (base64 and AES-GCM) costs about 12 µs. A rotation or reseal writes a
# new sealed value (a fresh nonce), so a kept one is never stale; past this many, start over.
_OPENED_KEPT = 50_000


def context(account: str, subscription_id: str, role: Role) -> bytes:
    """The associated data a secret is sealed with: where it lives."""
    return f"calypso-bridge/subscription-secret/v1|{account}|{subscription_id}|{role}".encode()


class SealedSecrets:
    """Seals and opens the secrets of one account's subscriptions."""

    def __init__(self, ring: KeyRing, account: str) -> None:
        self._ring = ring
        self._account = account.lower()
        self._opened: dict[tuple[str, Role, str], str] = {}

    def sealed(self, subscription: Subscription) -> Subscription:
        """The record as stored: every plain secret sealed (sealed ones stay as they are), and
        the single old secret of earlier records folded into ``previousSecrets``."""
        sid = subscription.id
        previous = list(subscription.previousSecrets)
        if subscription.previousSecret and subscription.previousSecretExpiresAt:
            previous.append(
                PreviousSecret(subscription.previousSecret, subscription.previousSecretExpiresAt)
            )
        return msgspec.structs.replace(
            subscription,
            secret=self._seal(sid, subscription.secret, "current"),
            previousSecrets=[
                PreviousSecret(self._seal(sid, p.secret, "previous"), p.expiresAt) for p in previous
            ],
            previousSecret=None,
            previousSecretExpiresAt=None,
        )

    def open(self, subscription_id: str, value: str, role: Role) -> str:
        """The plain secret; a plain ``whsec_`` value of an earlier release as it is."""
        if value.startswith(SECRET_PREFIX):
            return value
        where = (subscription_id, role, value)
        opened = self._opened.get(where)
        if opened is None:
            opened = self._ring.open(value, context(self._account, subscription_id, role))
            if len(self._opened) >= _OPENED_KEPT:
                self._opened.clear()
            self._opened[where] = opened
        return opened

    def signing_secrets(self, subscription: Subscription, now_ms: int) -> list[str]:
        """The current secret, then every previous one while its rotation overlap lasts,
        opened; :class:`~bridge.sealing.SecretUnreadable` if any does not open."""
        sid = subscription.id
        return [
            self.open(sid, subscription.secret, "current"),
            *(self.open(sid, p.secret, "previous") for p in subscription.overlapping(now_ms)),
        ]

    def resealed(self, subscription: Subscription, now_ms: int) -> Subscription | None:
        """The record with every secret under the sealing key and previous secrets past
        their overlap dropped; None when it is so already. Raises SecretUnreadable."""
        alive = subscription.overlapping(now_ms)
        if (
            self._ring.is_current(subscription.secret)
            and not subscription.previousSecret
            and len(alive) == len(subscription.previousSecrets)
            and all(self._ring.is_current(p.secret) for p in alive)
        ):
            return None
        sid = subscription.id
        return self.sealed(
            msgspec.structs.replace(
                subscription,
                secret=self._reseal(sid, subscription.secret, "current"),
                previousSecrets=[
                    PreviousSecret(self._reseal(sid, p.secret, "previous"), p.expiresAt)
                    for p in alive
                ],
                previousSecret=None,
                previousSecretExpiresAt=None,
            )
        )

    def has_plain(self, subscription: Subscription) -> bool:
        """Whether the record holds a secret in plain text (written by an earlier release)."""
        values = [subscription.secret, *(p.secret for p in subscription.previousSecrets)]
        return any(not is_sealed(v) for v in values) or bool(subscription.previousSecret)

    def _seal(self, subscription_id: str, value: str, role: Role) -> str:
        if is_sealed(value):
            return value
        return self._ring.seal(value, context(self._account, subscription_id, role))

    def _reseal(self, subscription_id: str, value: str, role: Role) -> str:
        if self._ring.is_current(value):
            return value
        return self._seal(subscription_id, self.open(subscription_id, value, role), role)
