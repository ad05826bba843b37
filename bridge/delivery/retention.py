"""Dead-letter retention: dead letters older than ``BRIDGE_DEAD_LETTER_RETENTION`` go.

Dead letters keep the event's bytes so that replay and redeliver outlive the stream; they
have their own retention (30 days by default) so they do not pile up for ever. A periodic
step of the worker removes, per subscription, those that became dead letters before the
cutoff, a bounded batch per script call. Every worker runs it; two at once remove each
letter once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.exceptions import RedisError

from bridge.delivery.subscriptions import SubscriptionStore
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import DELIVERY_DEAD_EXPIRE, Script

__all__ = ["DeadLetterRetention"]

log = logging.getLogger(__name__)

_BATCH = 500
_SHORTEST_PAUSE = 0.1
_LONGEST_PAUSE = 600.0  # a 30-day retention is kept to within ten minutes


class DeadLetterRetention:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        subscriptions: SubscriptionStore,
        *,
        retention: float,
    ) -> None:
        self._keys = keys
        self._subscriptions = subscriptions
        self._retention_ms = int(retention * 1000)
        # Often enough that a letter outlives its retention by a tenth of it at most.
        self.interval = min(_LONGEST_PAUSE, max(_SHORTEST_PAUSE, retention / 10))
        self._expire = Script(redis, DELIVERY_DEAD_EXPIRE)

    async def expire_once(self) -> int:
        """Remove every dead letter past the retention; how many were removed."""
        cutoff = int(time.time() * 1000) - self._retention_ms
        removed = 0
        for subscription in await self._subscriptions.all():
            keys = [
                self._keys.deliveries_dead(subscription.id),
                self._keys.deliveries_dead_since(subscription.id),
            ]
            while True:
                batch = await self._expire(keys, [cutoff, _BATCH])
                removed += batch
                if batch < _BATCH:
                    break
        return removed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if removed := await self.expire_once():
                    log.info("dead letters past their retention removed: %d", removed)
            except RedisError as exc:
                log.warning("dead-letter retention paused: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
