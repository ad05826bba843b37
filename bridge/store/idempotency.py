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

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = [
    "Claim",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "IdempotencyStore",
    "StoredResponse",
]

# Claims the key with a pending record, or returns the record that already holds it.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# Deletes the key only while it still holds this request's pending record.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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


class IdempotencyKeyInFlight(Exception):
    """A request with this key is still running: its answer is not known yet."""


class IdempotencyKeyReused(Exception):
    """The key was first used for a different request; replaying that answer would lie."""


class IdempotencyStore:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, ttl: float = 86400.0, pending_ttl: float = 60.0
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = int(ttl * 1000)
        self._pending_ttl_ms = int(pending_ttl * 1000)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    async def claim(
        self, scope: str, key: str, fingerprint: str
    ) -> tuple[Claim, StoredResponse | None]:
        pending = msgspec.json.encode(_Record(fingerprint))
        current = await self._claim(
            keys=[self._keys.idempotency(scope, key)], args=[pending, self._pending_ttl_ms]
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
        await self._release(keys=[self._keys.idempotency(scope, key)], args=[pending])
