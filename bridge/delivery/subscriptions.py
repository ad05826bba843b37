"""Webhook subscriptions: who receives which events, and the secrets that sign them.

A record lives in one Redis hash with its secrets, sealed (bridge.delivery.sealed_secrets).
Whether it is enabled, and since when it has been failing, live in hashes of their own, so
the dispatcher can disable a failing endpoint and the API can edit its URL at the same
moment without overwriting each other. A record read from the store holds its secrets
sealed; they are opened only by :meth:`SubscriptionStore.signing_secrets` (for the
dispatcher), and shown in plain text only in the answers to create and rotate.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, cast

import msgspec

from bridge.delivery.signing import new_secret
from bridge.errors import BridgeError
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import SUBSCRIPTION_SWAP, Script

if TYPE_CHECKING:
    from bridge.delivery.sealed_secrets import SealedSecrets

__all__ = [
    "Ordering",
    "PreviousSecret",
    "Resealed",
    "Subscription",
    "SubscriptionStore",
    "matches",
]

Ordering = Literal["none", "customer"]
"""``customer``: each customer's events one at a time, in stream order (DESIGN §6)."""

ROTATION_OVERLAP_MS = 24 * 3600 * 1000

Resealed = Literal["resealed", "sealed_plain", "current", "gone"]
"""What a reseal did to one subscription: moved it to the sealing key, sealed plain text of
an earlier release, found it under the sealing key already, or found it deleted."""


class PreviousSecret(msgspec.Struct, frozen=True):
    """A rotated-out secret, still signing until ``expiresAt`` (unix ms)."""

    secret: str
    expiresAt: int


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    # Sealed as read from the store; plain only in what create and rotate return.
    secret: str
    createdAt: int
    updatedAt: int
    description: str | None = None
    eventTypes: list[str] | None = None
    customerIds: list[str] | None = None
    # Every rotated-out secret still inside its overlap, newest first: a second rotation
    # within the overlap must not cut short the first one's.
    previousSecrets: list[PreviousSecret] = []
    # How records written before several secrets could overlap name their one old secret.
    previousSecret: str | None = None
    previousSecretExpiresAt: int | None = None
    ordering: Ordering = "none"
    # The name of the token that made it; None for subscriptions made before owners were
    # recorded, which only an admin token sees.
    owner: str | None = None
    # Filled from the side hashes when read; never stored in the record itself.
    disabledReason: str | None = None
    failingSince: int | None = None

    @property
    def enabled(self) -> bool:
        return self.disabledReason is None

    def overlapping(self, now_ms: int) -> list[PreviousSecret]:
        """The rotated-out secrets whose overlap has not ended at ``now_ms``, newest first."""
        previous = list(self.previousSecrets)
        if self.previousSecret and self.previousSecretExpiresAt:
            previous.append(PreviousSecret(self.previousSecret, self.previousSecretExpiresAt))
        alive = [p for p in previous if p.expiresAt > now_ms]
        return sorted(alive, key=lambda p: p.expiresAt, reverse=True)

    def secrets_in_use(self, now_ms: int) -> list[str]:
        """The current secret, then every previous one while its rotation overlap lasts, as
        held (sealed when read from the store: see :meth:`SubscriptionStore.signing_secrets`)."""
        return [self.secret, *(p.secret for p in self.overlapping(now_ms))]


def matches(subscription: Subscription, event_type: str, customer_id: str | None) -> bool:
    """Whether an event is for this subscription (``transaction.*`` matches a family)."""
    if subscription.eventTypes and not any(
        event_type == wanted or (wanted.endswith(".*") and event_type.startswith(wanted[:-1]))
        for wanted in subscription.eventTypes
    ):
        return False
    return not subscription.customerIds or customer_id in subscription.customerIds


def _new_id() -> str:
    return "sub_" + base64.b32encode(secrets.token_bytes(15)).decode().lower()


def _now_ms() -> int:
    return int(time.time() * 1000)


_decoder = msgspec.json.Decoder(Subscription)


class _Lined(msgspec.Struct):
    """What a delivery state says of its line (see ``bridge.delivery.queue``)."""

    line: str | None = None


_line_of = msgspec.json.Decoder(_Lined)


class SubscriptionStore:
    def __init__(self, redis: RedisClient, keys: Keys, sealed: SealedSecrets) -> None:
        self._redis = redis
        self._keys = keys
        self._sealed = sealed
        self._swap = Script(redis, SUBSCRIPTION_SWAP)

    async def create(
        self,
        url: str,
        *,
        description: str | None = None,
        event_types: Sequence[str] | None = None,
        customer_ids: Sequence[str] | None = None,
        ordering: Ordering = "none",
        owner: str | None = None,
    ) -> Subscription:
        now = _now_ms()
        subscription = Subscription(
            id=_new_id(),
            url=url,
            secret=new_secret(),
            createdAt=now,
            updatedAt=now,
            description=description,
            eventTypes=list(event_types) if event_types else None,
            customerIds=list(customer_ids) if customer_ids else None,
            ordering=ordering,
            owner=owner,
        )
        await self._redis.hset(
            self._keys.subscriptions, subscription.id, self._stored(subscription)
        )
        return subscription

    async def get(self, subscription_id: str) -> Subscription | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.subscriptions, subscription_id)
            pipe.hget(self._keys.subscriptions_disabled, subscription_id)
            pipe.hget(self._keys.subscriptions_failing, subscription_id)
            raw, disabled, failing = await pipe.execute()
        if raw is None:
            return None
        return _with_status(_decoder.decode(raw), disabled, failing)

    async def all(self) -> list[Subscription]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.subscriptions)
            pipe.hgetall(self._keys.subscriptions_disabled)
            pipe.hgetall(self._keys.subscriptions_failing)
            records, disabled, failing = await pipe.execute()
        found = [
            _with_status(_decoder.decode(raw), disabled.get(key), failing.get(key))
            for key, raw in cast(dict[bytes, bytes], records).items()
        ]
        return sorted(found, key=lambda s: (s.createdAt, s.id))

    async def update(self, subscription: Subscription, **changes: object) -> Subscription:
        updated = msgspec.structs.replace(subscription, updatedAt=_now_ms(), **changes)
        await self._redis.hset(self._keys.subscriptions, subscription.id, self._stored(updated))
        return updated

    async def rotate_secret(
        self, subscription: Subscription, *, now_ms: int | None = None
    ) -> Subscription:
        """A new secret; the current one keeps signing for :data:`ROTATION_OVERLAP_MS`, and
        so do older ones until their own overlaps end (first in ``previousSecrets``: the one
        just replaced). The current secret is opened to be sealed again as a previous one:
        one that does not open raises :class:`~bridge.sealing.SecretUnreadable`."""
        now = _now_ms() if now_ms is None else now_ms
        current = self._sealed.open(subscription.id, subscription.secret, "current")
        replaced = PreviousSecret(current, now + ROTATION_OVERLAP_MS)
        return await self.update(
            subscription,
            secret=new_secret(),
            previousSecrets=[replaced, *subscription.overlapping(now)],
            previousSecret=None,
            previousSecretExpiresAt=None,
        )

    def signing_secrets(self, subscription: Subscription, now_ms: int) -> list[str]:
        """The secrets that sign its deliveries now, opened: the current one, then every
        previous one still overlapping. Raises :class:`~bridge.sealing.SecretUnreadable` if
        any does not open with the key ring (the delivery must not go out unsigned)."""
        return self._sealed.signing_secrets(subscription, now_ms)

    async def reseal(self, subscription_id: str, *, now_ms: int | None = None) -> Resealed:
        """Seal every secret of one subscription under the first key of the ring. Raises
        :class:`~bridge.sealing.SecretUnreadable` and leaves the record if one does not open."""
        now = _now_ms() if now_ms is None else now_ms
        for _ in range(_RESEAL_TRIES):
            raw = await self._redis.hget(self._keys.subscriptions, subscription_id)
            if raw is None:
                return "gone"
            record = _decoder.decode(raw)
            resealed = self._sealed.resealed(record, now)
            if resealed is None:
                return "current"
            # Compare and set: an edit or rotation that lands meanwhile is never overwritten;
            # the record is read again and resealed as it now is.
            swapped = await self._swap(
                [self._keys.subscriptions], [subscription_id, raw, _encode(resealed)]
            )
            if swapped == 1:
                return "sealed_plain" if self._sealed.has_plain(record) else "resealed"
            if swapped == -1:
                return "gone"
        raise RecordContended(subscription_id)

    async def ids(self) -> list[str]:
        """Every subscription's id, without reading the records."""
        found = await self._redis.hkeys(self._keys.subscriptions)
        return sorted(k.decode() for k in cast(list[bytes], found))

    def _stored(self, subscription: Subscription) -> bytes:
        return _encode(self._sealed.sealed(subscription))

    async def delete(self, subscription_id: str) -> bool:
        # Every event in a customer's line has its delivery state, so the states name every
        # line there is.
        states = await self._redis.hvals(self._keys.deliveries_state(subscription_id))
        lines = {
            self._keys.deliveries_line(subscription_id, line)
            for raw in cast(list[bytes], states)
            if (line := _line_of.decode(raw).line) is not None
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.subscriptions, subscription_id)
            pipe.hdel(self._keys.subscriptions_disabled, subscription_id)
            pipe.hdel(self._keys.subscriptions_failing, subscription_id)
            pipe.delete(
                self._keys.deliveries_due(subscription_id),
                self._keys.deliveries_leases(subscription_id),
                self._keys.deliveries_state(subscription_id),
                self._keys.deliveries_dead(subscription_id),
                self._keys.deliveries_dead_since(subscription_id),
                self._keys.attempts(subscription_id),
                *lines,
            )
            pipe.srem(self._keys.deliveries_active, subscription_id)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def disable(self, subscription_id: str, reason: str) -> None:
        await self._redis.hset(self._keys.subscriptions_disabled, subscription_id, reason)

    async def enable(self, subscription_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.subscriptions_disabled, subscription_id)
            pipe.hdel(self._keys.subscriptions_failing, subscription_id)
            # Deliveries held while it was disabled go out now.
            pipe.sadd(self._keys.deliveries_active, subscription_id)
            await pipe.execute()

    async def failed(self, subscription_id: str, disable_after_ms: int) -> bool:
        """Record a failure; returns True when the endpoint has now failed for too long."""
        now = _now_ms()
        await self._redis.hsetnx(self._keys.subscriptions_failing, subscription_id, now)
        since = await self._redis.hget(self._keys.subscriptions_failing, subscription_id)
        return since is not None and now - int(since) >= disable_after_ms

    async def succeeded(self, subscription_id: str) -> None:
        await self._redis.hdel(self._keys.subscriptions_failing, subscription_id)


_RESEAL_TRIES = 20


class RecordContended(BridgeError):
    """A subscription kept changing while it was being resealed; run the reseal again."""

    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"subscription {subscription_id} kept changing during the reseal")
        self.subscription_id = subscription_id


def _encode(subscription: Subscription) -> bytes:
    stored = msgspec.structs.replace(subscription, disabledReason=None, failingSince=None)
    return msgspec.json.encode(stored)


def _with_status(
    subscription: Subscription, disabled: bytes | None, failing: bytes | None
) -> Subscription:
    return msgspec.structs.replace(
        subscription,
        disabledReason=None if disabled is None else disabled.decode(),
        failingSince=None if failing is None else int(failing),
    )
