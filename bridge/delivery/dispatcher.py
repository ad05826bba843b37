"""The webhook dispatcher: from the event stream to every subscriber, at least once.

Per worker, four loops. *Fan-out* turns stream entries into deliveries (see
:mod:`bridge.delivery.fanout`); *reclaim* takes over the entries of a crashed consumer.
*Delivery* claims due deliveries per subscription in batches ahead of sending
(:mod:`~bridge.delivery.claims`), under a lease longer than the HTTP timeout plus a margin
(a slow receiver is never hit twice in parallel), and starts attempts within each
endpoint's concurrency bound and circuit breaker (:mod:`~bridge.delivery.sending`), so one
slow or dead receiver never holds up the others. *Settle* writes the outcomes of many
attempts in one round trip (:mod:`~bridge.delivery.settling`). Each loop beats as it comes
round (:mod:`bridge.heartbeats`), so the worker's liveness probe sees one that is stuck.

Stopping is two-phase: the loops stop, running attempts get a grace period, the rest are
cancelled and hand their deliveries back; then what is settled is written and what is
claimed but not sent is handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.exceptions import RedisError

from bridge.delivery.claims import ClaimAhead
from bridge.delivery.fanout import FanOutReader
from bridge.delivery.queue import DeliveryQueue
from bridge.delivery.retry import RetryPolicy
from bridge.delivery.sender import Sender
from bridge.delivery.sending import Sending
from bridge.delivery.settling import Settling
from bridge.delivery.subscriptions import Subscription, SubscriptionStore
from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["DeliveryTuning", "Dispatcher"]

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self._tuning = tuning
        self._beats = heartbeats or Heartbeats()
        self._reader = FanOutReader(
            redis,
            keys,
            queue,
            consumer=worker_id,
            batch=tuning.read_batch,
            reclaim_idle=tuning.reclaim_idle,
        )
        self._work = asyncio.Event()  # an attempt ended or deliveries arrived: look again
        self._settling = Settling(queue, subscriptions, metrics, disable_after=tuning.disable_after)
        self._claims = ClaimAhead(
            queue,
            worker_id=worker_id,
            endpoint_concurrency=tuning.endpoint_concurrency,
            lease=tuning.lease,
            attempt_time=tuning.http_timeout,
        )
        self._sending = Sending(
            queue=queue,
            sender=sender,
            policy=policy,
            metrics=metrics,
            endpoint_concurrency=tuning.endpoint_concurrency,
            concurrency=tuning.concurrency,
            grace=tuning.grace,
            settle=self._settling.add,
            secrets=subscriptions.signing_secrets,
            on_done=self._work.set,
            rng=rng or random.Random(),
        )
        # The delivery loop re-reads subscriptions at most every 500 ms; the fan-out always
        # re-reads, so a new subscription gets every event appended after it was created.
        self._known: _Recent[dict[str, Subscription]] = _Recent(
            lambda: _by_id(subscriptions), {}, max_age=0.5
        )
        self._active: _Recent[list[str]] = _Recent(queue.active, [], max_age=0.1)

    async def run(self, stop: asyncio.Event) -> None:
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
            await self._sending.finish()
            with contextlib.suppress(RedisError):
                await self._settling.flush()
                await self._claims.hand_back()

    async def drain(self) -> int:
        """Fan out everything unread and deliver everything due now; for tests."""
        await self._reader.ensure_group()
        while await self._reader.read_once(self._fresh_subscriptions, None):
            pass
        sent = 0
        while started := await self._start_due(refresh=True):
            sent += started
            await self._sending.wait()
            await self._settling.flush()
        return sent

    async def _fan_out_loop(self, stop: asyncio.Event) -> None:
        grouped = False  # a worker may start while Redis is away (or failing over)
        while not stop.is_set():
            self._beats.beat("fan_out", every=1.0)
            try:
                if not grouped:
                    await self._reader.ensure_group()
                    grouped = True
                if await self._reader.read_once(self._fresh_subscriptions, block_ms=1000):
                    self._active.expire()  # new deliveries: look for them at once
                    self._work.set()
            except RedisError as exc:
                log.warning("fan-out paused: %s", type(exc).__name__)
                await _sleep_unless(stop, 1.0)

    async def _reclaim_loop(self, stop: asyncio.Event) -> None:
        cursor = "0-0"
        while not stop.is_set():
            self._beats.beat("reclaim", every=5.0)
            await _sleep_unless(stop, min(5.0, self._tuning.reclaim_idle / 2))
            try:
                cursor = await self._reader.reclaim_once(self._fresh_subscriptions, cursor)
            except RedisError as exc:
                log.warning("reclaim paused: %s", type(exc).__name__)

    async def _delivery_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._beats.beat("delivery", every=1.0)
            # Cleared before looking, so work that turns up while we look is not missed.
            self._work.clear()
            try:
                await self._start_due(refresh=False)
            except RedisError as exc:
                log.warning("delivery paused: %s", type(exc).__name__)
                await _sleep_unless(stop, 1.0)
                continue
            waiters = [asyncio.create_task(self._work.wait()), asyncio.create_task(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _settle_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._beats.beat("settle", every=1.0)
            # Bounded, so an idle loop still beats: only a stuck one falls silent.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settling.wait(), 1.0)
            try:
                if await self._settling.flush():
                    # A settled head of a customer's line made the next one due: look at once.
                    self._work.set()
            except RedisError as exc:
                # Unsettled deliveries keep their leases, which run out: they are sent again.
                log.warning("settling attempts failed: %s", type(exc).__name__)
                await _sleep_unless(stop, 0.5)

    async def _start_due(self, *, refresh: bool) -> int:
        """Top up the claims of every subscription with work and start what may go out."""
        subscriptions = await self._known.get(refresh)
        active = await self._active.get(refresh)
        started = 0
        for subscription_id in sorted(set(active) | self._claims.waiting()):
            subscription = subscriptions.get(subscription_id)
            if (
                subscription is None
                or not subscription.enabled
                or self._sending.cooling_down(subscription_id)
            ):
                await self._claims.hand_back(subscription_id)
                continue
            await self._claims.top_up(
                subscription_id,
                in_flight=self._sending.in_flight(subscription_id),
                room=self._sending.room,
            )
            started += self._sending.start(subscription, self._claims)
        return started

    async def _fresh_subscriptions(self) -> dict[str, Subscription]:
        return await self._known.get(refresh=True)


class _Recent(Generic[T]):
    """A value read again once older than ``max_age`` seconds, or when asked to."""

    def __init__(self, load: Callable[[], Awaitable[T]], initial: T, *, max_age: float) -> None:
        self._load = load
        self._value = initial
        self._max_age = max_age
        self._at = 0.0

    async def get(self, refresh: bool = False) -> T:
        if refresh or time.monotonic() - self._at > self._max_age:
            self._value = await self._load()
            self._at = time.monotonic()
        return self._value

    def expire(self) -> None:
        self._at = 0.0


async def _by_id(subscriptions: SubscriptionStore) -> dict[str, Subscription]:
    return {s.id: s for s in await subscriptions.all()}


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
