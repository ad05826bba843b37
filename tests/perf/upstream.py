"""``upstream-cost`` and ``worker-memory``: a large watch list (folded in from poll_cost.py).

Both watch ``customers`` sandbox customers of which ``active`` keep an open transaction.
The customers are created once per run through the sandbox's upstream API with the bridge's
own :class:`CalypsoClient`, concurrently, and watched again after every flush with
:meth:`WatchList.watch`. Intervals are scaled down from the defaults (2 s / 5 min) with the
same ratio (0.5 s / 75 s, ``--hot-interval``) so the idle back-off reaches its cap within
the warm-up. The ratio to naive polling does not depend on the scale, as long as the workers
keep the schedule: at 0.2 s / 30 s the 100 active customers alone ask for 500 polls a second
(ten times their production cost), more than two workers sharing 2 cores with everything
else manage, so the figure checks the schedule was kept and fails as "behind" when it was
not (the calls counted would then understate what the cadence asks for).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.poller.watchlist import WatchList
from bridge.store.keys import Keys
from tests.perf.clients import append_events, synthetic_events
from tests.perf.context import Context
from tests.perf.report import Result, number
from tests.perf.stack import ACCOUNT, API_KEY, API_SECRET, rss_bytes

__all__ = ["upstream_cost", "worker_memory"]

IDLE_PER_HOT = 150  # the defaults' ratio: 2 s / 5 min
COST_GOAL = 0.05
MEMORY_GOAL_MB = 150.0


def _intervals(ctx: Context) -> tuple[float, float, dict[str, str]]:
    hot = ctx.sizes.hot_interval
    idle = hot * IDLE_PER_HOT
    env = {
        "BRIDGE_POLL_HOT_INTERVAL": f"{round(hot * 1000)}ms",
        "BRIDGE_POLL_IDLE_INTERVAL": f"{round(idle * 1000)}ms",
    }
    return hot, idle, env


@dataclass(frozen=True, slots=True)
class Population:
    customers: list[str]
    active: int


async def _population(ctx: Context) -> Population:
    """The run's customers, created on first use; the first ``active`` have an open deposit."""
    cached = ctx.cache.get("population")
    if isinstance(cached, Population):
        return cached
    total, active = ctx.sizes.customers, ctx.sizes.active
    async with CalypsoClient(
        base_url=ctx.stack.sandbox_url, account=ACCOUNT, api_key=API_KEY, api_secret=API_SECRET
    ) as calypso:

        async def one(n: int) -> str:
            customer = await calypso.create_customer(models.CustomerCreate())
            if n < active:
                purse = await calypso.get_purse_address(uuid.UUID(customer.id), "BTC")
                answer = await ctx.sandbox.post(
                    "/sandbox/deposits",
                    json={"address": purse.address, "currency": "BTC", "amount": "0.1"},
                )
                answer.raise_for_status()
            return customer.id

        customers: list[str] = []
        for start in range(0, total, 200):
            batch = range(start, min(total, start + 200))
            customers += await asyncio.gather(*(one(n) for n in batch))
    population = ctx.cache["population"] = Population(customers, active)
    return population


async def _watch(ctx: Context) -> Population:
    population = await _population(ctx)
    watchlist = WatchList(ctx.redis, Keys("bridge", ACCOUNT))
    for start in range(0, len(population.customers), 50):
        batch = population.customers[start : start + 50]
        await asyncio.gather(*(watchlist.watch(c, "bench") for c in batch))
    return population


async def upstream_cost(ctx: Context) -> Result:
    await ctx.fresh()
    started = time.monotonic()
    population = await _watch(ctx)
    prepared = time.monotonic() - started
    customers, active = len(population.customers), population.active
    workers = ctx.sizes.poll_workers
    hot, idle, env = _intervals(ctx)
    overdue: list[int] = []
    async with ctx.stack.workers(env, workers, name="worker-upstream-cost"):
        await asyncio.sleep(ctx.sizes.warmup)
        first = await _upstream_calls(ctx)
        window_started = time.monotonic()
        window_ends = window_started + ctx.sizes.window
        while (left := window_ends - time.monotonic()) > 0:
            overdue.append(await _overdue(ctx))
            await asyncio.sleep(min(5.0, left))
        last = await _upstream_calls(ctx)
        elapsed = time.monotonic() - window_started
    per_minute = (last - first) * 60 / elapsed
    naive = customers * 60 / hot
    settled = active * 60 / hot + (customers - active) * 60 / idle
    ratio = per_minute / naive
    # Customers overdue by over a second mean the workers could not keep the schedule: the
    # calls counted are then what they managed, not what the cadence asks for.
    behind = sum(overdue) / len(overdue) if overdue else 0.0
    kept_up = behind <= 0.01 * customers
    return Result(
        figure="upstream-cost",
        unit="calls/min",
        measured=per_minute,
        baseline=naive,
        ratio=ratio,
        goal=f"≤ {COST_GOAL:.0%}",
        passed=ratio <= COST_GOAL and kept_up,
        baseline_text=f"{number(naive)} /min",
        measured_text=f"{number(per_minute)} /min" + ("" if kept_up else " (behind)"),
        ratio_text=f"{ratio:.2%}",
        notes=[
            f"{customers} watched, {active} active, {workers} worker(s); hot {hot:g} s / idle "
            f"{idle:g} s; warm-up {ctx.sizes.warmup:g} s, window {elapsed:.0f} s; the settled "
            f"cadence asks for {number(settled)} /min; on average {behind:.0f} customers "
            "overdue by > 1 s in the window"
            + ("" if kept_up else " — BEHIND SCHEDULE: the cost measured understates demand")
        ],
        details={
            "customers": customers,
            "active": active,
            "hot_interval_s": hot,
            "idle_interval_s": idle,
            "warmup_s": ctx.sizes.warmup,
            "window_s": round(elapsed, 1),
            "calls_per_minute": round(per_minute, 1),
            "naive_calls_per_minute": round(naive, 1),
            "settled_calls_per_minute": round(settled, 1),
            "warmup_calls_per_minute": round(first * 60 / ctx.sizes.warmup, 1),
            "workers": workers,
            "overdue_samples": overdue,
            "kept_up": kept_up,
            "population_seconds": round(prepared, 1),
        },
    )


async def _overdue(ctx: Context) -> int:
    """Watched customers whose poll is more than a second late."""
    late = int(time.time() * 1000) - 1000
    return int(await ctx.redis.zcount(Keys("bridge", ACCOUNT).poll_schedule, "-inf", late))


async def _upstream_calls(ctx: Context) -> int:
    answer = await ctx.sandbox.get("/sandbox/counters")
    answer.raise_for_status()
    return int(answer.json()["total"])


async def worker_memory(ctx: Context) -> Result:
    """Resident memory of a worker that polls the watch list and delivers every event in a
    long stream to one subscription; sampled every 0.5 s, the peak is the figure."""
    await ctx.fresh()
    population = await _watch(ctx)
    (await ctx.sandbox.delete("/sandbox/counters")).raise_for_status()
    events = ctx.sizes.memory_events
    path = "/memory"
    await ctx.api.subscribe(ctx.sink.url + path)
    run = uuid.uuid4().hex[:8]
    for start in range(0, events, 5000):
        batch = synthetic_events(min(5000, events - start), start=start, run=run)
        await append_events(ctx.redis, batch, batch=1000)
    samples: list[int] = []
    async with ctx.stack.worker(_intervals(ctx)[2], name="worker-memory") as worker:
        started = time.monotonic()
        deadline = started + max(120.0, events / 200)
        delivered = 0
        while delivered < events or time.monotonic() - started < ctx.sizes.memory_run:
            samples.append(rss_bytes(worker.pid))
            delivered = int((await ctx.sink.stats()).get(path, {}).get("distinct", 0))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{delivered} of {events} events delivered in time")
            await asyncio.sleep(0.5)
        ran = time.monotonic() - started
        final = rss_bytes(worker.pid)
    peak_mb, final_mb = max(samples) / 2**20, final / 2**20
    polls = await _upstream_calls(ctx)
    return Result(
        figure="worker-memory",
        unit="MB",
        measured=peak_mb,
        baseline=None,
        ratio=None,
        goal=f"≤ {MEMORY_GOAL_MB:.0f} MB",
        passed=peak_mb <= MEMORY_GOAL_MB,
        measured_text=f"{peak_mb:.0f} MB",
        notes=[
            f"peak {peak_mb:.1f} MB, at the end {final_mb:.1f} MB after {ran:.0f} s: "
            f"{len(population.customers)} watched, {number(events)} events in the stream "
            f"all delivered, {number(polls)} upstream calls"
        ],
        details={
            "peak_mb": round(peak_mb, 1),
            "final_mb": round(final_mb, 1),
            "seconds": round(ran, 1),
            "customers": len(population.customers),
            "events": events,
            "upstream_calls": polls,
        },
    )
