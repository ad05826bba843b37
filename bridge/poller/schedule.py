"""When each watched customer is polled next, and which worker holds it now.

The schedule is a sorted set of customer → due time. A worker *claims* due customers: each
gets a lease (worker id and expiry) and its due time moves to the lease's expiry, so a
worker that dies simply lets the customer become due again when the lease runs out. Any
number of workers can claim at once; the claim is one script, so a customer is polled by
one worker per round. A poll that runs longer than a third of its lease renews it (see
:mod:`bridge.poller.keeper`), so only a worker that stopped renewing loses its customers.
"""

from __future__ import annotations

import time

import msgspec

from bridge.poller.cadence import Cadence
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import Lease, parse_claimed
from bridge.store.scripts import POLL_CLAIM, POLL_COMPLETE, POLL_POKE, POLL_RENEW, Script

__all__ = ["Lease", "PollSchedule"]


def _now_ms() -> int:
    return int(time.time() * 1000)


class PollSchedule:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = Script(redis, POLL_CLAIM)
        self._complete = Script(redis, POLL_COMPLETE)
        self._renew = Script(redis, POLL_RENEW)
        self._poke = Script(redis, POLL_POKE)

    async def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        keys = [self._keys.poll_schedule, self._keys.poll_leases, self._keys.poll_poked]
        args: list[str | int] = [_now_ms(), int(lease_seconds * 1000), limit, worker]
        return parse_claimed(await self._claim(keys, args))

    async def renew(self, lease: Lease, worker: str, lease_seconds: float) -> Lease | None:
        """Hold the customer ``lease_seconds`` longer; ``None`` once the lease is lost."""
        keys = [self._keys.poll_schedule, self._keys.poll_leases]
        args: list[str | int] = [
            lease.item,
            lease.token,
            _now_ms(),
            int(lease_seconds * 1000),
            worker,
        ]
        token = await self._renew(keys, args)
        return None if token is None else Lease(lease.item, token.decode(), lease.due_ms)

    async def complete(self, lease: Lease, next_due_ms: int, cadence: Cadence) -> bool:
        keys = [
            self._keys.poll_schedule,
            self._keys.poll_leases,
            self._keys.poll_poked,
            self._keys.poll_state,
        ]
        args: list[str | int | bytes] = [
            lease.item,
            lease.token,
            next_due_ms,
            _now_ms(),
            msgspec.json.encode(cadence),
        ]
        return bool(await self._complete(keys, args))

    async def poke(self, customer_id: str) -> bool:
        """Poll this customer as soon as possible (an inbound hint said it changed)."""
        keys = [
            self._keys.poll_schedule,
            self._keys.poll_leases,
            self._keys.poll_poked,
            self._keys.poll_wake,
        ]
        return bool(await self._poke(keys, [customer_id, _now_ms()]))

    async def cadence(self, customer_id: str) -> Cadence:
        raw = await self._redis.hget(self._keys.poll_state, customer_id)
        return Cadence() if raw is None else msgspec.json.decode(raw, type=Cadence)

    async def hot_until(self, customer_id: str) -> float:
        score = await self._redis.zscore(self._keys.poll_hot_until, customer_id)
        return 0.0 if score is None else float(score)

    async def next_due(self) -> float | None:
        first = await self._redis.zrange(self._keys.poll_schedule, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def size(self) -> int:
        return int(await self._redis.zcard(self._keys.poll_schedule))
