"""From the event stream to deliveries: the dispatcher's consumer group.

Each worker reads as one consumer of the group and turns every event into one delivery per
subscription that wants it (created and acknowledged in one step, see the queue). Entries a
crashed consumer read but never acknowledged are taken over with XAUTOCLAIM once they have
been idle longer than any live consumer needs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from redis.exceptions import ResponseError

from bridge.delivery.queue import DeliveryQueue, FanOut
from bridge.delivery.subscriptions import Subscription, matches
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["FanOutReader"]

log = logging.getLogger(__name__)

_Entries = list[tuple[bytes, dict[bytes, bytes]]]
Subscriptions = Callable[[], Awaitable[Mapping[str, Subscription]]]


class FanOutReader:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        queue: DeliveryQueue,
        *,
        consumer: str,
        batch: int,
        reclaim_idle: float,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._queue = queue
        self._consumer = consumer
        self._batch = batch
        self._reclaim_idle_ms = int(reclaim_idle * 1000)

    async def ensure_group(self) -> None:
        try:
            # From the start of the stream: a subscription only gets events created after it
            # anyway (see _wants), and nothing written before the first start is lost.
            await self._redis.xgroup_create(
                self._keys.events, self._keys.dispatcher_group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_once(self, subscriptions: Subscriptions, block_ms: int | None) -> int:
        answer = await self._redis.xreadgroup(
            self._keys.dispatcher_group,
            self._consumer,
            {self._keys.events: ">"},
            count=self._batch,
            block=block_ms,
        )
        if not answer:
            return 0
        # Without decode_responses, redis-py answers a list of [stream, entries] pairs.
        entries = cast(_Entries, cast(list[list[object]], answer)[0][1])
        # Subscriptions are read after the entries: one created before an event was appended
        # is then always seen (reading them first, then blocking, would miss it).
        await self._fan_out(entries, await subscriptions())
        return len(entries)

    async def reclaim_once(self, subscriptions: Subscriptions, cursor: str) -> str:
        """Take over stale entries of dead consumers; returns the cursor for the next call."""
        answer = await self._redis.xautoclaim(
            self._keys.events,
            self._keys.dispatcher_group,
            self._consumer,
            min_idle_time=self._reclaim_idle_ms,
            start_id=cursor,
            count=self._batch,
        )
        following = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
        entries = [e for e in cast(_Entries, answer[1]) if e[1]]
        if entries:
            log.info("taking over %d unacknowledged stream entries", len(entries))
            await self._fan_out(entries, await subscriptions())
        return following

    async def _fan_out(self, entries: _Entries, subscriptions: Mapping[str, Subscription]) -> None:
        batch = []
        for entry_id, fields in entries:
            entry = entry_id.decode()
            customer = fields.get(b"customerId", b"").decode() or None
            event_type = fields[b"type"].decode()
            targets = tuple(
                s.id for s in subscriptions.values() if _wants(s, event_type, customer, entry)
            )
            ordered = frozenset(t for t in targets if subscriptions[t].ordering == "customer")
            batch.append(
                FanOut(entry, fields[b"id"].decode(), event_type, targets, customer, ordered)
            )
        await self._queue.fan_out(self._keys.dispatcher_group, batch)


def _wants(subscription: Subscription, event_type: str, customer: str | None, entry: str) -> bool:
    created_ms = int(entry.split("-", 1)[0])
    return (
        subscription.enabled
        and created_ms >= subscription.createdAt
        and matches(subscription, event_type, customer)
    )
