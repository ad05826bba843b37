"""Attempts in flight: one task per attempt, within each endpoint's bound and circuit.

An endpoint gets at most its concurrency of attempts at once and the worker at most its
own total, so one slow or dead receiver never holds up the others; a circuit breaker per
endpoint stops sending to one that keeps failing. Each attempt's outcome goes to the
settler as a :class:`~bridge.delivery.queue.Settlement`; nothing here waits on Redis
between attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError

from bridge.delivery.circuit import Circuit
from bridge.delivery.claims import ClaimAhead
from bridge.delivery.outcomes import dead_letter, settlement_for
from bridge.delivery.queue import Claimed, DeliveryQueue, Settlement
from bridge.delivery.retry import Outcome, RetryPolicy
from bridge.delivery.sender import Sender, SendResult
from bridge.delivery.subscriptions import Subscription
from bridge.metrics import Metrics
from bridge.sealing import SecretUnreadable

__all__ = ["Sending"]

log = logging.getLogger(__name__)

Secrets = Callable[[Subscription, int], list[str]]
"""A subscription's signing secrets at a unix-ms time, opened (SubscriptionStore's)."""


class Sending:
    def __init__(
        self,
        *,
        queue: DeliveryQueue,
        sender: Sender,
        policy: RetryPolicy,
        metrics: Metrics,
        endpoint_concurrency: int,
        concurrency: int,
        grace: float,
        settle: Callable[[Settlement], None],
        on_done: Callable[[], None],
        rng: random.Random,
        secrets: Secrets,
    ) -> None:
        self._queue = queue
        self._sender = sender
        self._policy = policy
        self._metrics = metrics
        self._per_endpoint = endpoint_concurrency
        self._total = concurrency
        self._grace = grace
        self._settle = settle
        self._on_done = on_done
        self._rng = rng
        self._secrets = secrets
        self._in_flight: dict[str, int] = defaultdict(int)
        self._circuits: dict[str, Circuit] = defaultdict(Circuit)
        self._tasks: set[asyncio.Task[Any]] = set()

    def in_flight(self, subscription_id: str) -> int:
        return self._in_flight[subscription_id]

    @property
    def room(self) -> int:
        """How many more tasks the worker may start."""
        return self._total - len(self._tasks)

    def cooling_down(self, subscription_id: str) -> bool:
        """The endpoint's circuit is open: nothing may go out, nothing should wait for it."""
        return not self._circuits[subscription_id].allows_any()

    def start(self, subscription: Subscription, claims: ClaimAhead) -> int:
        """Start attempts for the subscription's claims, as many as its bounds and circuit
        allow; how many started."""
        sid = subscription.id
        circuit = self._circuits[sid]
        now_ms = time.time() * 1000
        started = 0
        while (
            claims.count(sid)
            and self._in_flight[sid] < self._per_endpoint
            and len(self._tasks) < self._total
            and circuit.allows() > 0
        ):
            claimed = claims.take(sid)
            if claims.too_late(claimed, now_ms):
                self._spawn(self._queue.hand_back(sid, claimed.lease))
                continue
            self._in_flight[sid] += 1
            self._spawn(self._attempt(subscription, claimed))
            started += 1
        return started

    async def wait(self) -> None:
        """Until every attempt started so far has ended (drain mode)."""
        await asyncio.gather(*list(self._tasks))

    async def finish(self) -> None:
        """Let running attempts end within the grace period; cancel the rest, which hand
        their deliveries back."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=self._grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, subscription: Subscription, claimed: Claimed) -> None:
        lease, state = claimed.lease, claimed.state
        try:
            if claimed.body is None:
                # Trimmed from the stream before it could be delivered: nothing left to send.
                self._settle(
                    dead_letter(subscription.id, lease, state, "event no longer in stream")
                )
                return
            try:
                secrets = self._secrets(subscription, int(time.time() * 1000))
            except SecretUnreadable as exc:
                result = self._unsigned(subscription, exc)
            else:
                try:
                    result = await self._sender.send(
                        subscription.url, lease.item, claimed.body, secrets
                    )
                except asyncio.CancelledError:
                    # Stopping: hand the delivery back, due now, for the next worker to send.
                    with contextlib.suppress(RedisError):
                        await asyncio.shield(self._queue.hand_back(subscription.id, lease))
                    raise
                self._metrics.delivery_seconds.observe(result.latency_ms / 1000)
            delivered = result.outcome is Outcome.DELIVERED
            self._circuits[subscription.id].record(delivered)
            self._metrics.deliveries.labels(result.outcome.value).inc()
            if delivered and state.entry:
                appended = int(state.entry.split("-", 1)[0]) / 1000
                self._metrics.delivery_latency.observe(max(0.0, time.time() - appended))
            self._settle(
                settlement_for(
                    subscription.id, lease, state, result, self._policy, self._rng, claimed.body
                )
            )
        finally:
            self._in_flight[subscription.id] -= 1
            self._on_done()

    def _unsigned(self, subscription: Subscription, exc: SecretUnreadable) -> SendResult:
        """Nothing goes out unsigned or signed with a guess: the attempt fails, visibly in
        the attempt log, the log and ``bridge_secrets_unreadable_total``, and is retried as
        any failure is, so restoring the key to BRIDGE_SECRETS_KEYS lets it through."""
        self._metrics.secrets_unreadable.labels(exc.cause).inc()
        log.error(
            "subscription %s: not delivered, its signing secret does not open: %s",
            subscription.id,
            exc,
        )
        return SendResult(
            outcome=Outcome.ERROR,
            status=None,
            latency_ms=0.0,
            error="not sent: the signing secret cannot be opened by the bridge's keys "
            f"({exc.kid or 'no key'}); an operator must restore the key",
        )
