"""What every figure gets: the running stack, clients to drive it, and the sizes to use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.perf.clients import BridgeApi, SinkClient
from tests.perf.stack import Stack

__all__ = ["QUICK", "Context", "Sizes"]


@dataclass(frozen=True, slots=True)
class Sizes:
    events: int = 20_000  # deliveries: events to one subscription
    fanout_events: int = 2_000  # fanout: events to each of fanout_subscriptions
    fanout_subscriptions: int = 10
    concurrency: int = 64  # per endpoint, for the workers together and the baseline loop
    # deliveries, fanout: worker processes, one per core as deployed; they split the
    # endpoint concurrency so that in total it equals the baseline's.
    delivery_workers: int = 2
    samples: int = 300  # poll-latency and hint-latency: state changes measured
    latency_customers: int = 20
    customers: int = 10_000  # upstream-cost and worker-memory: watched customers
    active: int = 100  # of which this many have an open transaction
    poll_workers: int = 2  # upstream-cost: worker processes sharing the watch list
    # upstream-cost, worker-memory: the hot interval; the idle one is 150 times it, as with
    # the defaults (2 s / 5 min). The warm-up lets the idle back-off reach its cap.
    hot_interval: float = 0.5
    warmup: float = 140.0  # upstream-cost: seconds before counting
    window: float = 80.0  # upstream-cost: seconds counted (at least one idle interval)
    requests: int = 2_000  # api-latency: requests to each side
    memory_events: int = 100_000  # worker-memory: events in the stream
    memory_run: float = 30.0  # worker-memory: seconds the worker runs at least

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


QUICK = replace(
    Sizes(),
    events=2_000,
    fanout_events=200,
    samples=60,
    latency_customers=10,
    customers=1_000,
    active=10,
    hot_interval=0.2,
    warmup=35.0,
    window=25.0,
    requests=300,
    memory_events=10_000,
    memory_run=10.0,
)


@dataclass(slots=True)
class Context:
    stack: Stack
    sizes: Sizes
    redis: Redis
    api: BridgeApi
    sink: SinkClient
    sandbox: httpx.AsyncClient
    build_dir: Path
    profile: bool = False
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, stack: Stack, sizes: Sizes, build_dir: Path, *, profile: bool) -> Context:
        return cls(
            stack=stack,
            sizes=sizes,
            redis=Redis.from_url(stack.redis_url),
            api=BridgeApi(stack.api_url),
            sink=SinkClient(stack.sink_url),
            sandbox=httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30.0),
            build_dir=build_dir,
            profile=profile,
        )

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.sink.aclose()
        await self.sandbox.aclose()
        await self.redis.aclose()

    async def fresh(self, keep_bodies: Sequence[str] = ()) -> None:
        """Empty Redis, an empty sink, and a sandbox that sends no webhooks and has counted
        nothing. Sandbox customers stay: they cost nothing unless watched again."""
        await self.redis.flushdb()
        await self.sink.reset(keep_bodies)
        (await self.sandbox.delete("/sandbox/webhooks")).raise_for_status()
        (await self.sandbox.delete("/sandbox/counters")).raise_for_status()
