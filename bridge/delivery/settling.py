"""Settling attempts: many outcomes written in one round trip, and the endpoints to disable.

Attempts hand their settlements over as they end; the settler writes all that have piled
up (attempt log, retry or dead letter, the failing clock) with one script call per
subscription, pipelined. A subscription that answered 410, or has been failing for longer
than ``disable_after``, is disabled.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bridge.delivery.queue import DeliveryQueue, Settlement
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.metrics import Metrics

__all__ = ["Settling"]

log = logging.getLogger(__name__)


class Settling:
    def __init__(
        self,
        queue: DeliveryQueue,
        subscriptions: SubscriptionStore,
        metrics: Metrics,
        *,
        disable_after: float,
    ) -> None:
        self._queue = queue
        self._subscriptions = subscriptions
        self._metrics = metrics
        self._disable_after_ms = int(disable_after * 1000)
        self._batch: list[Settlement] = []
        self._wake = asyncio.Event()

    def add(self, settlement: Settlement) -> None:
        self._batch.append(settlement)
        self._wake.set()

    async def wait(self) -> None:
        """Until there is something to settle."""
        await self._wake.wait()
        self._wake.clear()

    async def flush(self) -> int:
        """Write every settlement added so far; how many. On a Redis error they are dropped:
        their deliveries keep their leases, which run out, and are sent again."""
        batch, self._batch = self._batch, []
        if not batch:
            return 0
        failing = await self._queue.settle(batch)
        now_ms = int(time.time() * 1000)
        for settlement, since in zip(batch, failing, strict=True):
            if settlement.kind == "dead":
                self._metrics.dead_letters.inc()
            reason = None
            if settlement.gone:
                reason = "gone"
            elif since is not None and now_ms - since >= self._disable_after_ms:
                reason = "failing"
            if reason is not None:
                await self._subscriptions.disable(settlement.subscription_id, reason)
                log.warning(
                    "subscription disabled",
                    extra={"subscription": settlement.subscription_id, "reason": reason},
                )
        return len(batch)
