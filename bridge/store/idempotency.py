"""Idempotency keys: the first response to a key is replayed for every retry of it.

A key is claimed atomically before the work starts, so two concurrent requests with the same
key cannot both run; the second is told the first is still in flight. A key is bound to the
request it came with (a fingerprint of method, path and body): reusing it for a different
request is refused rather than answered with an unrelated response. Failures whose outcome
is unknown (5xx) release the key so that a retry can run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import msgspec

from bridge.errors import BridgeError
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import IDEMPOTENCY_CLAIM, IDEMPOTENCY_RELEASE, Script

__all__ = [
    "Claim",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "IdempotencyStore",
    "StoredResponse",
]


class _Record(msgspec.Struct, frozen=True):
    fingerprint: str
    status: int | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes


class Claim(Enum):
    STARTED = "started"
    IN_FLIGHT = "in_flight"
    MISMATCH = "mismatch"
    REPLAY = "replay"


class IdempotencyKeyInFlight(BridgeError):
    """A request with this key is still running: its answer is not known yet."""


class IdempotencyKeyReused(BridgeError):
    """The key was first used for a different request; replaying that answer would lie."""


class IdempotencyStore:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, ttl: float = 86400.0, pending_ttl: float = 60.0
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = int(ttl * 1000)
        self._pending_ttl_ms = int(pending_ttl * 1000)
        self._claim = Script(redis, IDEMPOTENCY_CLAIM)
        self._release = Script(redis, IDEMPOTENCY_RELEASE)

    async def claim(
        self, scope: str, key: str, fingerprint: str
    ) -> tuple[Claim, StoredResponse | None]:
        pending = msgspec.json.encode(_Record(fingerprint))
        current = await self._claim(
            [self._keys.idempotency(scope, key)], [pending, self._pending_ttl_ms]
        )
        if not current:
            return Claim.STARTED, None
        record = msgspec.json.decode(current, type=_Record)
        if record.fingerprint != fingerprint:
            return Claim.MISMATCH, None
        if record.status is None or record.body is None:
            return Claim.IN_FLIGHT, None
        return Claim.REPLAY, StoredResponse(record.status, record.body)

    async def complete(
        self, scope: str, key: str, fingerprint: str, response: StoredResponse
    ) -> None:
        record = _Record(fingerprint, response.status, response.body)
        await self._redis.set(
            self._keys.idempotency(scope, key), msgspec.json.encode(record), px=self._ttl_ms
        )

    async def release(self, scope: str, key: str, fingerprint: str) -> None:
        pending = msgspec.json.encode(_Record(fingerprint))
        await self._release([self._keys.idempotency(scope, key)], [pending])
