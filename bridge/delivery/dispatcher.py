"""The webhook dispatcher: from the event stream to every subscriber, at least once.

Two loops per worker. *Fan-out* reads the stream as one consumer of the dispatcher's group
and turns each event into deliveries for the subscriptions that want it (created and acked
in one step; entries of a crashed consumer are taken over with XAUTOCLAIM). *Delivery*
claims due deliveries per subscription under a lease longer than the HTTP timeout plus a
margin (a slow receiver is never hit twice in parallel), sends them, and records the
attempt, the next retry or the dead letter. Each endpoint has its own concurrency bound and
circuit breaker, so one slow or dead receiver never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import cast

import msgspec
from redis.exceptions import RedisError, ResponseError

from bridge.delivery.attempts import Attempt
from bridge.delivery.circuit import Circuit
from bridge.delivery.queue import (
    Claimed,
    DeadLetter,
    DeliveryQueue,
    DeliveryState,
    FanOut,
    Settlement,
)
from bridge.delivery.retry import Outcome, RetryPolicy
from bridge.delivery.sender import Sender, SendResult
from bridge.delivery.subscriptions import Subscription, SubscriptionStore, matches
from bridge.metrics import Metrics
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import Lease

__all__ = ["DeliveryTuning", "Dispatcher"]

log = logging.getLogger(__name__)

_Entries = list[tuple[bytes, dict[bytes, bytes]]]


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
        self._redis = redis
        self._keys = keys
        self._subscriptions = subscriptions
        self._queue = queue
        self._sender = sender
        self._policy = policy
        self._metrics = metrics
        self._tuning = tuning
        self._rng = rng or random.Random()
        self._in_flight: dict[str, int] = defaultdict(int)
        self._circuits: dict[str, Circuit] = defaultdict(Circuit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._work = asyncio.Event()
        self._settling: list[Settlement] = []
        self._settle_wake = asyncio.Event()
        self._known: dict[str, Subscription] = {}
        self._known_at = 0.0

    # -- running -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._ensure_group()
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
            await self._flush_settlements()

    async def drain(self) -> int:
        """Fan out everything unread and deliver everything due now; for tests."""
        await self._ensure_group()
        while await self._fan_out_once(block_ms=None):
            pass
        sent = 0
        while started := await self._start_due(refresh=True):
            sent += started
            await asyncio.gather(*list(self._tasks))
            await self._flush_settlements()
        return sent

    # -- fan-out -------------------------------------------------------------------------

    async def _ensure_group(self) -> None:
        try:
            # From the start of the stream: a subscription only gets events created after
            # it anyway (see _targets), and nothing written before the first start is lost.
            await self._redis.xgroup_create(
                self._keys.events, self._keys.dispatcher_group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _fan_out_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._fan_out_once(block_ms=1000)
            except RedisError as exc:
                log.warning("fan-out paused: %s", type(exc).__name__)
                await _sleep_unless(stop, 1.0)

    async def _fan_out_once(self, block_ms: int | None) -> int:
        answer = await self._redis.xreadgroup(
            self._keys.dispatcher_group,
            self._id,
            {self._keys.events: ">"},
            count=self._tuning.read_batch,
            block=block_ms,
        )
        if not answer:
            return 0
        # Without decode_responses, redis-py answers a list of [stream, entries] pairs.
        entries = cast(_Entries, cast(list[list[object]], answer)[0][1])
        await self._fan_out(entries)
        return len(entries)

    async def _reclaim_loop(self, stop: asyncio.Event) -> None:
        cursor = "0-0"
        while not stop.is_set():
            await _sleep_unless(stop, min(5.0, self._tuning.reclaim_idle / 2))
            try:
                answer = await self._redis.xautoclaim(
                    self._keys.events,
                    self._keys.dispatcher_group,
                    self._id,
                    min_idle_time=int(self._tuning.reclaim_idle * 1000),
                    start_id=cursor,
                    count=self._tuning.read_batch,
                )
                cursor = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
                entries = [e for e in cast(_Entries, answer[1]) if e[1]]
                if entries:
                    log.info("taking over %d unacknowledged stream entries", len(entries))
                    await self._fan_out(entries)
            except RedisError as exc:
                log.warning("reclaim paused: %s", type(exc).__name__)

    async def _fan_out(self, entries: _Entries) -> None:
        subscriptions = await self._subscriptions_now(refresh=True)
        batch = []
        for entry_id, fields in entries:
            entry = entry_id.decode()
            customer = fields.get(b"customerId", b"").decode() or None
            event_type = fields[b"type"].decode()
            targets = tuple(
                s.id for s in subscriptions.values() if _wants(s, event_type, customer, entry)
            )
            batch.append(FanOut(entry, fields[b"id"].decode(), event_type, targets))
        await self._queue.fan_out(self._keys.dispatcher_group, batch)
        self._work.set()

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
                await asyncio.wait(
                    [*waiters, *self._tasks], timeout=0.1, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _start_due(self, *, refresh: bool) -> int:
        subscriptions = await self._subscriptions_now(refresh=refresh)
        started = 0
        for subscription_id in await self._queue.active():
            subscription = subscriptions.get(subscription_id)
            if subscription is None or not subscription.enabled:
                continue
            free = min(
                self._tuning.endpoint_concurrency - self._in_flight[subscription_id],
                self._tuning.concurrency - len(self._tasks),
                self._circuits[subscription_id].allows(),
            )
            if free <= 0:
                continue
            claimed = await self._queue.claim(subscription_id, self._id, free, self._tuning.lease)
            if not claimed:
                await self._queue.retire(subscription_id)
                continue
            for delivery in claimed:
                self._in_flight[subscription_id] += 1
                task = asyncio.create_task(self._deliver(subscription, delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    async def _deliver(self, subscription: Subscription, delivery: Claimed) -> None:
        lease, state = delivery.lease, delivery.state
        try:
            if delivery.body is None:
                # Trimmed from the stream before it could be delivered: nothing left to send.
                self._settle(_dead(subscription.id, lease, state, "event no longer in stream"))
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
            self._settle(self._outcome(subscription, lease, state, result))
        finally:
            self._in_flight[subscription.id] -= 1
            self._work.set()

    def _outcome(
        self, subscription: Subscription, lease: Lease, state: DeliveryState, result: SendResult
    ) -> Settlement:
        attempt = state.attempts + 1
        delivered = result.outcome is Outcome.DELIVERED
        self._circuits[subscription.id].record(delivered)
        self._metrics.deliveries.labels(result.outcome.value).inc()
        self._metrics.delivery_seconds.observe(result.latency_ms / 1000)
        now = time.time()
        if delivered and state.entry:
            appended = int(state.entry.split("-", 1)[0]) / 1000
            self._metrics.delivery_latency.observe(max(0.0, now - appended))
        next_at: int | None = None
        settlement: Settlement
        if delivered or result.outcome is Outcome.GONE:
            settlement = Settlement(subscription.id, lease, "done", failed=not delivered)
        else:
            delay = self._policy.next_delay(attempt, retry_after=result.retry_after, rng=self._rng)
            if delay is None:
                settlement = _dead(subscription.id, lease, state, result.outcome.value, attempt)
            else:
                next_at = int((now + delay) * 1000)
                retried = DeliveryState(state.eventType, attempt, state.entry, state.body)
                settlement = Settlement(
                    subscription.id, lease, "retry", failed=True, due_ms=next_at, state=retried
                )
        record = Attempt(
            eventId=lease.item,
            eventType=state.eventType,
            attempt=attempt,
            outcome=result.outcome.value,
            at=int(now * 1000),
            latencyMs=round(result.latency_ms, 3),
            status=result.status,
            error=result.error,
            response=result.response,
            nextAttemptAt=next_at,
            test=state.body is not None,
        )
        gone = result.outcome is Outcome.GONE
        return dataclasses.replace(settlement, attempt=_encode_attempt(record), gone=gone)

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
            if settlement.gone:
                await self._subscriptions.disable(settlement.subscription_id, "gone")
                log.warning(
                    "subscription answered 410 Gone: disabled",
                    extra={"subscription": settlement.subscription_id},
                )
            elif since is not None and now_ms - since >= disable_after_ms:
                await self._subscriptions.disable(settlement.subscription_id, "failing")
                log.warning(
                    "subscription failing too long: disabled",
                    extra={"subscription": settlement.subscription_id},
                )

    async def _subscriptions_now(self, *, refresh: bool) -> dict[str, Subscription]:
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


def _dead(
    subscription_id: str,
    lease: Lease,
    state: DeliveryState,
    outcome: str,
    attempts: int | None = None,
) -> Settlement:
    letter = DeadLetter(
        eventId=lease.item,
        eventType=state.eventType,
        attempts=state.attempts if attempts is None else attempts,
        lastOutcome=outcome,
        at=int(time.time() * 1000),
        entry=state.entry,
        body=state.body,
    )
    return Settlement(subscription_id, lease, "dead", failed=attempts is not None, dead=letter)


_attempt_encoder = msgspec.json.Encoder()


def _encode_attempt(attempt: Attempt) -> bytes:
    return _attempt_encoder.encode(attempt)


def _wants(subscription: Subscription, event_type: str, customer: str | None, entry: str) -> bool:
    created_ms = int(entry.split("-", 1)[0])
    return (
        subscription.enabled
        and created_ms >= subscription.createdAt
        and matches(subscription, event_type, customer)
    )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
