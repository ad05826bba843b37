"""``deliveries`` and ``fanout``: signed webhook deliveries per second against a raw POST loop.

Both sides are timed the same way, at the sink: (distinct webhooks - 1) / (last arrival -
first arrival). The bridge's events are appended to the stream *before* its worker starts,
so appending costs nothing during the measurement and the worker's start-up (imports,
connections) ends before the first arrival. The baseline is a raw aiohttp loop in this
process POSTing the same bodies to the same sink with the same number of connections that
the worker may use per endpoint; the bench process does nothing else meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from tests.perf.clients import append_events, event_body, redis_commands, synthetic_events
from tests.perf.context import Context
from tests.perf.profile import Profiler
from tests.perf.report import Result, number

__all__ = ["deliveries", "fanout"]

GOAL = 0.6


async def deliveries(ctx: Context) -> Result:
    return await _throughput(ctx, "deliveries", ctx.sizes.events, subscriptions=1)


async def fanout(ctx: Context) -> Result:
    sizes = ctx.sizes
    return await _throughput(
        ctx, "fanout", sizes.fanout_events, subscriptions=sizes.fanout_subscriptions
    )


async def _throughput(ctx: Context, name: str, events: int, *, subscriptions: int) -> Result:
    concurrency = ctx.sizes.concurrency
    total = events * subscriptions
    await ctx.fresh()
    batch = synthetic_events(events)
    bodies = [event_body(e) for e in batch]

    ids = [e.id for e in batch]
    await _post_loop(ctx, "/warm-up", bodies[:1000], ids, min(total, 1000), concurrency)
    before = await _baseline(ctx, "/baseline/before", bodies, ids, total, concurrency)

    paths = [f"/{name}/{n}" for n in range(subscriptions)]
    for path in paths:
        await ctx.api.subscribe(ctx.sink.url + path)
    # After the subscriptions: a subscription only gets events appended after it.
    await append_events(ctx.redis, batch, batch=1000)
    count = max(1, ctx.sizes.delivery_workers)
    env = {"BRIDGE_WEBHOOK_ENDPOINT_CONCURRENCY": str(max(1, concurrency // count))}
    profiler: Profiler | None = None
    commands_before = await redis_commands(ctx.redis)
    async with ctx.stack.workers(env, count, name=f"worker-{name}") as workers:
        worker = workers[0]
        if ctx.profile and name == "deliveries":
            profiled_from = await ctx.sink.wait_distinct(paths, 1, within=60.0)
            profiler = Profiler.start(worker.pid, ctx.build_dir / "worker-profile")
        try:
            stats = await ctx.sink.wait_distinct(paths, events, within=max(60.0, total / 100))
        finally:
            if profiler is not None:
                # Deliveries made while py-spy sampled, for the per-delivery figures.
                now = await ctx.sink.stats()
                profiler.stop(deliveries=_distinct(now, paths) - _distinct(profiled_from, paths))
    bridge = _rate(stats, paths)
    commands = _per_delivery(commands_before, await redis_commands(ctx.redis), total)
    # The baseline is taken on both sides of the bridge's run and averaged, so a drift of the
    # machine during the figure (frequency, neighbours) weighs on both alike.
    after = await _baseline(ctx, "/baseline/after", bodies, ids, total, concurrency)
    baseline = {
        "rate": (before["rate"] + after["rate"]) / 2,
        "seconds": round((before["seconds"] + after["seconds"]) / 2, 3),
        "before": before,
        "after": after,
    }

    ratio = bridge["rate"] / baseline["rate"]
    notes = [
        f"{number(total)} deliveries in {bridge['seconds']:.2f} s "
        f"({bridge['duplicates']} duplicates); baseline {number(before['rate'])} req/s "
        f"before and {number(after['rate'])} after; {concurrency} connections per "
        f"endpoint in total, over {count} worker process(es); bodies {len(bodies[0])} bytes",
        "Redis commands per delivery: "
        + ", ".join(f"{c} {v:g}" for c, v in list(commands.items())[:7]),
    ]
    if profiler is not None:
        notes.append(f"profiled (py-spy slows the worker): {profiler.summary_path}, .svg")
    return Result(
        figure=name,
        unit="deliveries/s",
        measured=bridge["rate"],
        baseline=baseline["rate"],
        ratio=ratio,
        goal=f"≥ {GOAL}",
        passed=ratio >= GOAL,
        baseline_text=f"{number(baseline['rate'])} req/s",
        measured_text=f"{number(bridge['rate'])} /s",
        ratio_text=f"{ratio:.2f}",
        notes=notes,
        details={
            "events": events,
            "subscriptions": subscriptions,
            "concurrency": concurrency,
            "body_bytes": len(bodies[0]),
            "bridge": bridge,
            "redis_commands_per_delivery": commands,
            "baseline": baseline,
            "timing": "first to last arrival at the sink; events appended before the "
            "worker started",
        },
    )


async def _baseline(
    ctx: Context,
    path: str,
    bodies: Sequence[bytes],
    ids: Sequence[str],
    total: int,
    concurrency: int,
) -> dict[str, Any]:
    client_seconds = await _post_loop(ctx, path, bodies, ids, total, concurrency)
    stats = await ctx.sink.wait_distinct([path], total, within=10.0)
    return {**_rate(stats, [path]), "client_seconds": round(client_seconds, 3)}


async def _post_loop(
    ctx: Context,
    path: str,
    bodies: Sequence[bytes],
    ids: Sequence[str],
    total: int,
    concurrency: int,
) -> float:
    """POST the bodies (round-robin up to ``total``) to ``path`` from ``concurrency`` tasks,
    each on its own kept-alive connection, as the worker's sender does; returns seconds."""
    url = f"{ctx.sink.url}{path}"
    next_request = iter(range(total))
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    started = time.perf_counter()
    async with aiohttp.ClientSession(
        connector=connector, headers={"Content-Type": "application/json"}
    ) as session:

        async def loop() -> None:
            for n in next_request:
                k = n % len(bodies)
                headers = {"webhook-id": f"{ids[k]}.{n // len(bodies)}"}
                async with session.post(url, data=bodies[k], headers=headers) as answer:
                    await answer.read()
                    answer.raise_for_status()

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return time.perf_counter() - started


def _per_delivery(before: dict[str, int], after: dict[str, int], total: int) -> dict[str, float]:
    """Redis commands per delivery by command (script internals included), the busiest first;
    the worker's start-up and idle polling are in it too, a negligible share."""
    calls = {c: (n - before.get(c, 0)) / total for c, n in after.items() if c != "info"}
    busy = sorted(((round(v, 2), c) for c, v in calls.items() if v >= 0.005), reverse=True)
    return {"all": round(sum(calls.values()), 2)} | {c: v for v, c in busy}


def _distinct(stats: dict[str, dict[str, Any]], paths: Sequence[str]) -> int:
    return sum(int(stats.get(p, {}).get("distinct", 0)) for p in paths)


def _rate(stats: dict[str, dict[str, Any]], paths: Sequence[str]) -> dict[str, Any]:
    first = min(stats[p]["first"] for p in paths)
    last = max(stats[p]["last"] for p in paths)
    distinct = sum(stats[p]["distinct"] for p in paths)
    count = sum(stats[p]["count"] for p in paths)
    seconds = last - first
    return {
        "rate": (distinct - 1) / seconds if seconds > 0 else 0.0,
        "seconds": round(seconds, 3),
        "distinct": distinct,
        "duplicates": count - distinct,
    }
