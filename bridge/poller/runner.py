"""The polling loop of a worker: claim due customers, poll them, schedule the next round.

Any number of workers run this loop against one Redis; the schedule's leases make sure a
due customer is polled by one of them per round, and each running poll keeps its lease
alive however long the upstream takes. A worker sleeps until the next customer is
due, or until an inbound hint wakes it; each round beats (:mod:`bridge.heartbeats`) for the
liveness probe. Stopping is two-phase: stop claiming, let running
polls finish within a grace period, then cancel the rest and hand their leases back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from bridge.calypso.errors import CalypsoError
from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.poller.cadence import Cadence, after_poll, next_delay
from bridge.poller.keeper import LeaseKeeper
from bridge.poller.poll import CustomerPoller
from bridge.poller.schedule import PollSchedule
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import Lease

__all__ = ["PollRunner", "PollTuning"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollTuning:
    hot_interval: float
    idle_interval: float
    lease: float = 60.0
    concurrency: int = 16
    grace: float = 10.0


class PollRunner:
    def __init__(
        self,
        *,
        worker_id: str,
        redis: RedisClient,
        keys: Keys,
        schedule: PollSchedule,
        poller: CustomerPoller,
        metrics: Metrics,
        tuning: PollTuning,
        rng: random.Random | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self._id = worker_id
        self._beats = heartbeats or Heartbeats()
        self._redis = redis
        self._keys = keys
        self._schedule = schedule
        self._poller = poller
        self._metrics = metrics
        self._tuning = tuning
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen_for_wakeups(stop))
        try:
            while not stop.is_set():
                self._beats.beat("poll", every=1.0)  # _idle waits at most a second
                try:
                    await self._claim_and_start()
                    await self._idle(stop)
                except RedisError as exc:
                    log.warning("cannot reach the schedule: %s", type(exc).__name__)
                    await _wait_any(stop, 1.0)
        finally:
            listener.cancel()
            await self._stop_polls()
            # Outlive the listener: a BLPOP still running after the caller closes the client
            # would reopen it (a RedisCluster client re-initialises on a connection error).
            await asyncio.gather(listener, return_exceptions=True)

    async def drain(self) -> int:
        """Poll every customer due now, until none is; for tests and one-shot runs."""
        polls = 0
        while claimed := await self._schedule.claim(
            self._id, self._tuning.concurrency, self._tuning.lease
        ):
            await asyncio.gather(*(self._poll(lease) for lease in claimed))
            polls += len(claimed)
        return polls

    async def _claim_and_start(self) -> None:
        free = self._tuning.concurrency - len(self._tasks)
        if free <= 0:
            return
        for lease in await self._schedule.claim(self._id, free, self._tuning.lease):
            task = asyncio.create_task(self._poll(lease))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Sleep until a poll ends, a customer falls due, a hint arrives, or we stop."""
        if len(self._tasks) >= self._tuning.concurrency:
            timeout = 1.0
        else:
            due = await self._schedule.next_due()
            timeout = 1.0 if due is None else due / 1000 - time.time()
            timeout = min(1.0, max(0.005, timeout))
        self._wake.clear()
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(
                [*waiters, *self._tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _listen_for_wakeups(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._beats.beat("poll_wake", every=1.0)
            try:
                if await self._redis.blpop([self._keys.poll_wake], timeout=1):
                    self._wake.set()
            except RedisError:
                await _wait_any(stop, 1.0)

    async def _poll(self, lease: Lease) -> None:
        started = time.time()
        self._metrics.schedule_lag.observe(max(0.0, started - lease.due_ms / 1000))
        self._metrics.polls_in_flight.inc()
        keeper = LeaseKeeper(
            self._schedule, lease, worker=self._id, lease_seconds=self._tuning.lease
        )
        keeper.start()
        try:
            cadence = await self._schedule.cadence(lease.item)
            hot_until = await self._schedule.hot_until(lease.item)
            failed, open_transactions = False, 0
            try:
                outcome = await self._poller.poll(lease.item)
                open_transactions = outcome.open_transactions
                for kind in outcome.events:
                    self._metrics.events.labels(kind).inc()
            except CalypsoError as exc:
                failed = True
                log.warning("poll failed", extra={"customer": lease.item, "error": str(exc)})
            except asyncio.CancelledError:
                await asyncio.shield(self._release(keeper, cadence))
                raise
            except RedisError:
                raise
            except Exception:
                failed = True
                log.exception("poll crashed", extra={"customer": lease.item})
            hot = open_transactions > 0 or hot_until > started * 1000
            await self._finish(await keeper.stop(), cadence, hot=hot, failed=failed)
        except RedisError as exc:
            # The lease expires by itself and another worker takes the customer over.
            log.warning("poll bookkeeping failed: %s", type(exc).__name__)
            self._metrics.polls.labels("failed").inc()
        finally:
            await keeper.stop()
            self._metrics.polls_in_flight.dec()
            self._metrics.poll_seconds.observe(time.time() - started)

    async def _finish(self, lease: Lease, cadence: Cadence, *, hot: bool, failed: bool) -> None:
        following = after_poll(cadence, hot=hot, failed=failed)
        delay = next_delay(
            following,
            hot=hot,
            hot_interval=self._tuning.hot_interval,
            idle_interval=self._tuning.idle_interval,
            rng=self._rng,
        )
        kept = await self._schedule.complete(lease, int((time.time() + delay) * 1000), following)
        outcome = "failed" if failed else "ok"
        self._metrics.polls.labels(outcome if kept else "lost_lease").inc()

    async def _release(self, keeper: LeaseKeeper, cadence: Cadence) -> None:
        """Hand a lease back, due now, so another worker polls the customer at once."""
        lease = await keeper.stop()
        with contextlib.suppress(RedisError):
            await self._schedule.complete(lease, int(time.time() * 1000), cadence)

    async def _stop_polls(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=self._tuning.grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _wait_any(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
