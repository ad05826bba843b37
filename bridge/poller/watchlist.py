"""Which customers the bridge polls.

Calypso cannot list customers, so the bridge watches only those it created, issued an
address for, or was told about. Watching puts a customer in the ``watched`` hash (why and
since when) and in the poll schedule, due at once; both change in one transaction so the
schedule never holds a customer the hash does not, or the other way round.
"""

from __future__ import annotations

import time

import msgspec

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["WatchEntry", "WatchList"]


class WatchEntry(msgspec.Struct, frozen=True):
    customerId: str
    since: int
    reason: str


class WatchList:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def watch(self, customer_id: str, reason: str) -> WatchEntry:
        """Start watching; watching an already watched customer keeps its first entry."""
        entry = WatchEntry(customer_id, int(time.time() * 1000), reason)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._keys.watched, customer_id, msgspec.json.encode(entry))
            pipe.zadd(self._keys.poll_schedule, {customer_id: entry.since}, nx=True)
            pipe.hget(self._keys.watched, customer_id)
            *_, stored = await pipe.execute()
        return msgspec.json.decode(stored, type=WatchEntry)

    async def unwatch(self, customer_id: str) -> bool:
        """Stop polling; a poll running now finishes but schedules nothing after it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.watched, customer_id)
            pipe.zrem(self._keys.poll_schedule, customer_id)
            pipe.hdel(self._keys.poll_state, customer_id)
            pipe.zrem(self._keys.poll_hot_until, customer_id)
            pipe.srem(self._keys.poll_poked, customer_id)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def keep_hot(self, customer_id: str, seconds: float) -> None:
        """A new address is where a deposit is about to land: poll often for a while."""
        until = int((time.time() + seconds) * 1000)
        await self._redis.zadd(self._keys.poll_hot_until, {customer_id: until}, gt=True)

    async def get(self, customer_id: str) -> WatchEntry | None:
        stored = await self._redis.hget(self._keys.watched, customer_id)
        return None if stored is None else msgspec.json.decode(stored, type=WatchEntry)
