"""The webhook dispatcher: from the event stream to every subscriber, at least once.

Per worker, four loops. *Fan-out* turns stream entries into deliveries (see
:mod:`bridge.delivery.fanout`); *reclaim* takes over the entries of a crashed consumer.
*Delivery* claims due deliveries per subscription in batches, under a lease longer than the
HTTP timeout plus a margin (a slow receiver is never hit twice in parallel), and sends them
within each endpoint's concurrency bound and circuit breaker, so one slow or dead receiver
never holds up the others. *Settle* writes the outcomes of many attempts (attempt log,
retry or dead letter, the failing clock) in one round trip.

Claims run ahead of sending: a subscription keeps up to twice its concurrency claimed, so
a finished attempt is followed at once by the next one, without a Redis round trip in
between. A claimed delivery that waited too long to leave its lease a full attempt is
handed back instead of sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from bridge.delivery.circuit import Circuit
from bridge.delivery.fanout import FanOutReader
from bridge.delivery.outcomes import dead_letter, settlement_for
from bridge.delivery.queue import Claimed, DeliveryQueue, Settlement
from bridge.delivery.retry import Outcome, RetryPolicy
from bridge.delivery.sender import Sender
from bridge.delivery.subscriptions import Subscription, SubscriptionStore
from bridge.metrics import Metrics
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["DeliveryTuning", "Dispatcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryTuning:
    http_timeout: float = 15.0
    endpoint_concurrency: int = 10
    concurrency: int = 512
    disable_after: float = 5 * 86400.0
    read_batch: int = 500
    grace: float = 10.0

    @property
    def lease(self) -> float:
        """Longer than any attempt can take (the HTTP total timeout, plus as much again and
        at least 2 s of margin), so a live worker's delivery is never sent twice at once."""
        return self.http_timeout + max(2.0, self.http_timeout)

    @property
    def reclaim_idle(self) -> float:
        """A consumer's unacknowledged stream entries are taken over after this long."""
        return self.lease


class Dispatcher:
    def __init__(
        self,
        *,
        worker_id: str,
        redis: RedisClient,
        keys: Keys,
        subscriptions: SubscriptionStore,
        queue: DeliveryQueue,
        sender: Sender,
        policy: RetryPolicy,
        metrics: Metrics,
        tuning: DeliveryTuning,
        rng: random.Random | None = None,
    ) -> None:
        self._id = worker_id
        self._subscriptions = subscriptions
        self._queue = queue
        self._sender = sender
        self._policy = policy
        self._metrics = metrics
        self._tuning = tuning
        self._rng = rng or random.Random()
        self._reader = FanOutReader(
            redis,
            keys,
            queue,
            consumer=worker_id,
            batch=tuning.read_batch,
            reclaim_idle=tuning.reclaim_idle,
        )
        self._in_flight: dict[str, int] = defaultdict(int)
        self._claimed: dict[str, deque[Claimed]] = defaultdict(deque)
        self._circuits: dict[str, Circuit] = defaultdict(Circuit)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._work = asyncio.Event()
        self._settling: list[Settlement] = []
        self._settle_wake = asyncio.Event()
        self._known: dict[str, Subscription] = {}
        self._known_at = 0.0
        self._active: list[str] = []
        self._active_at = 0.0

    # -- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._reader.ensure_group()
        loops = [
            asyncio.create_task(self._fan_out_loop(stop)),
            asyncio.create_task(self._reclaim_loop(stop)),
            asyncio.create_task(self._delivery_loop(stop)),
            asyncio.create_task(self._settle_loop(stop)),
        ]
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._finish_in_flight()
            with contextlib.suppress(RedisError):
                await self._flush_settlements()
                await self._hand_back_claimed()

    async def drain(self) -> int:
        """Fan out everything unread and deliver everything due now; for tests."""
        await self._reader.ensure_group()
        while await self._reader.read_once(self._fresh_subscriptions, None):
            pass
        sent = 0
        while started := await self._start_due(refresh=True):
            sent += started
            await asyncio.gather(*list(self._tasks))
            await self._flush_settlements()
        return sent

    async def _fan_out_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self._reader.read_once(self._fresh_subscriptions, block_ms=1000):
                    self._active_at = 0.0  # new deliveries: look for them at once
                    self._work.set()
            except RedisError as exc:
                log.warning("fan-out paused: %s", type(exc).__name__)
                await _sleep_unless(stop, 1.0)

    async def _reclaim_loop(self, stop: asyncio.Event) -> None:
        cursor = "0-0"
        while not stop.is_set():
            await _sleep_unless(stop, min(5.0, self._tuning.reclaim_idle / 2))
            try:
                cursor = await self._reader.reclaim_once(self._fresh_subscriptions, cursor)
            except RedisError as exc:
                log.warning("reclaim paused: %s", type(exc).__name__)

    # -- delivery ------------------------------------------------------------------------

    async def _delivery_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._start_due(refresh=False)
            except RedisError as exc:
                log.warning("delivery paused: %s", type(exc).__name__)
                await _sleep_unless(stop, 1.0)
                continue
            self._work.clear()
            waiters = [asyncio.create_task(self._work.wait()), asyncio.create_task(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _start_due(self, *, refresh: bool) -> int:
        subscriptions = await self._subscriptions_now(refresh)
        if refresh or time.monotonic() - self._active_at > 0.1:
            self._active = await self._queue.active()
            self._active_at = time.monotonic()
        wanted = set(self._active) | {s for s, q in self._claimed.items() if q}
        started = 0
        for subscription_id in sorted(wanted):
            subscription = subscriptions.get(subscription_id)
            circuit = self._circuits[subscription_id]
            if subscription is None or not subscription.enabled or not circuit.allows_any():
                await self._hand_back_claimed(subscription_id)
                continue
            await self._claim_ahead(subscription_id)
            started += self._start_claimed(subscription, circuit)
        return started

    async def _claim_ahead(self, subscription_id: str) -> None:
        """Keep up to twice the endpoint's concurrency claimed; claim in batches."""
        limit = self._tuning.endpoint_concurrency
        owned = self._in_flight[subscription_id] + len(self._claimed[subscription_id])
        if owned > limit:
            return
        wanted = min(2 * limit - owned, self._tuning.concurrency - len(self._tasks))
        if wanted <= 0:
            return
        claimed = await self._queue.claim(subscription_id, self._id, wanted, self._tuning.lease)
        self._claimed[subscription_id].extend(claimed)
        if not claimed and not owned:
            await self._queue.retire(subscription_id)

    def _start_claimed(self, subscription: Subscription, circuit: Circuit) -> int:
        queue = self._claimed[subscription.id]
        started = 0
        # A claimed delivery must still have a whole attempt's worth of lease to be sent.
        latest_start_ms = (time.time() + self._tuning.http_timeout + 1.0) * 1000
        while (
            queue
            and self._in_flight[subscription.id] < self._tuning.endpoint_concurrency
            and len(self._tasks) < self._tuning.concurrency
            and circuit.allows() > 0
        ):
            delivery = queue.popleft()
            if delivery.lease.expiry_ms < latest_start_ms:
                self._spawn(self._queue.hand_back(subscription.id, delivery.lease))
                continue
            self._in_flight[subscription.id] += 1
            self._spawn(self._deliver(subscription, delivery))
            started += 1
        return started

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, subscription: Subscription, delivery: Claimed) -> None:
        lease, state = delivery.lease, delivery.state
        try:
            if delivery.body is None:
                # Trimmed from the stream before it could be delivered: nothing left to send.
                self._settle(
                    dead_letter(subscription.id, lease, state, "event no longer in stream")
                )
                return
            secrets = subscription.signing_secrets(int(time.time() * 1000))
            try:
                result = await self._sender.send(
                    subscription.url, lease.item, delivery.body, secrets
                )
            except asyncio.CancelledError:
                # Stopping: hand the delivery back, due now, for the next worker to send.
                with contextlib.suppress(RedisError):
                    await asyncio.shield(self._queue.hand_back(subscription.id, lease))
                raise
            delivered = result.outcome is Outcome.DELIVERED
            self._circuits[subscription.id].record(delivered)
            self._metrics.deliveries.labels(result.outcome.value).inc()
            self._metrics.delivery_seconds.observe(result.latency_ms / 1000)
            if delivered and state.entry:
                appended = int(state.entry.split("-", 1)[0]) / 1000
                self._metrics.delivery_latency.observe(max(0.0, time.time() - appended))
            self._settle(
                settlement_for(subscription.id, lease, state, result, self._policy, self._rng)
            )
        finally:
            self._in_flight[subscription.id] -= 1
            self._work.set()

    async def _hand_back_claimed(self, subscription_id: str | None = None) -> None:
        targets = [subscription_id] if subscription_id else list(self._claimed)
        for target in targets:
            queue = self._claimed[target]
            while queue:
                await self._queue.hand_back(target, queue.popleft().lease)

    # -- settling ------------------------------------------------------------------------

    def _settle(self, settlement: Settlement) -> None:
        self._settling.append(settlement)
        self._settle_wake.set()

    async def _settle_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._settle_wake.wait()
            self._settle_wake.clear()
            try:
                await self._flush_settlements()
            except RedisError as exc:
                # Unsettled deliveries keep their leases, which run out: they are sent again.
                log.warning("settling attempts failed: %s", type(exc).__name__)
                await _sleep_unless(stop, 0.5)

    async def _flush_settlements(self) -> None:
        batch, self._settling = self._settling, []
        if not batch:
            return
        failing = await self._queue.settle(batch)
        disable_after_ms = int(self._tuning.disable_after * 1000)
        now_ms = int(time.time() * 1000)
        for settlement, since in zip(batch, failing, strict=True):
            if settlement.kind == "dead":
                self._metrics.dead_letters.inc()
            reason = None
            if settlement.gone:
                reason = "gone"
            elif since is not None and now_ms - since >= disable_after_ms:
                reason = "failing"
            if reason is not None:
                await self._subscriptions.disable(settlement.subscription_id, reason)
                log.warning(
                    "subscription disabled",
                    extra={"subscription": settlement.subscription_id, "reason": reason},
                )

    # -- helpers -------------------------------------------------------------------------

    async def _fresh_subscriptions(self) -> dict[str, Subscription]:
        return await self._subscriptions_now(True)

    async def _subscriptions_now(self, refresh: bool) -> dict[str, Subscription]:
        # Re-read at most every 500 ms in the delivery loop; the fan-out always re-reads,
        # so a new subscription gets every event appended after it was created.
        if refresh or time.monotonic() - self._known_at > 0.5:
            self._known = {s.id: s for s in await self._subscriptions.all()}
            self._known_at = time.monotonic()
        return self._known

    async def _finish_in_flight(self) -> None:
        """Let running attempts end within the grace period; hand the rest back."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=self._tuning.grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
