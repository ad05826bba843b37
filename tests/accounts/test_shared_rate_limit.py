"""An account's upstream rate limit covers the API's calls and the worker's together: API
calls book slots ahead and go first, polls yield, and the sum stays within the limit."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.calypso.errors import CalypsoRateLimited
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.poller.ratelimit import SlotTooFar, UpstreamRateLimit
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.wiring import Components
from tests.api.test_errors import assert_problem
from tests.support.config import scenario_settings
from tests.support.redis_modes import both_redis_modes
from tests.support.sandbox_server import RunningServer

RATE = 20.0  # per second: a slot every 50 ms


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


@both_redis_modes
async def test_api_calls_go_first_polls_yield_and_together_they_keep_the_limit(
    redis: RedisClient, keys: Keys
) -> None:
    api_calls: list[float] = []
    poll_calls: list[float] = []
    api_busy = asyncio.Event()
    api_busy.set()

    async def api_caller() -> None:
        limit = UpstreamRateLimit(redis, keys, per_second=RATE)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            await limit.book(2.0)
            api_calls.append(time.monotonic())

    async def poller(until: float) -> None:
        limit = UpstreamRateLimit(redis, keys, per_second=RATE)
        while time.monotonic() < until:
            await limit.acquire()
            poll_calls.append(time.monotonic())

    started = time.monotonic()
    polls = [asyncio.create_task(poller(started + 2.5)) for _ in range(3)]
    await asyncio.gather(*(api_caller() for _ in range(3)))
    api_done = time.monotonic()
    await asyncio.gather(*polls)

    # While API callers kept every slot booked, polls waited; after, they took the slots.
    during = [t for t in poll_calls if started + 0.1 < t < api_done - 0.1]
    after = [t for t in poll_calls if t > api_done]
    assert len(during) <= 1, during
    assert len(api_calls) >= 0.8 * RATE * 1.5
    assert len(after) >= 0.6 * RATE * (started + 2.5 - api_done)
    # Together, never more calls in a second than the limit, give or take two: a call is
    # timed when its task wakes, which on a loaded machine can bunch slots that were apart.
    assert most_in_any_window(api_calls + poll_calls, 1.0) <= RATE + 2


async def test_an_api_call_whose_slot_is_too_far_books_nothing(
    redis: RedisClient, keys: Keys
) -> None:
    limit = UpstreamRateLimit(redis, keys, per_second=10)
    for _ in range(3):
        await limit.book(0.5)  # slots now, +100 ms, +200 ms
    booked = await redis.get(keys.upstream_rate)
    with pytest.raises(SlotTooFar) as full:
        await limit.book(0.05)
    assert 0.05 < full.value.wait <= 0.3
    assert await redis.get(keys.upstream_rate) == booked


@pytest.fixture
def slow_limit(redis_url: str, sandbox: RunningServer) -> Settings:
    return scenario_settings(redis_url, sandbox.url, BRIDGE_UPSTREAM_RATE_LIMIT="2")


@pytest.mark.timeout(60)
async def test_concurrent_api_calls_beyond_what_a_caller_may_wait_are_refused(
    slow_limit: Settings, redis: RedisClient, calypso: CalypsoClient
) -> None:
    customer = uuid.UUID(str((await calypso.create_customer(models.CustomerCreate())).id))
    components = Components(slow_limit, retry=RetryPolicy.never())
    try:
        outcomes = await asyncio.gather(
            *(components.calypso.get_customer(customer) for _ in range(10)),
            return_exceptions=True,
        )
    finally:
        await components.aclose()
    served = [o for o in outcomes if isinstance(o, models.Customer)]
    refused = [o for o in outcomes if isinstance(o, CalypsoRateLimited)]
    # 2 calls/s and a caller waits at most 2 s: slots now, +0.5, +1, +1.5 and +2 s.
    assert len(served) == 5, outcomes
    assert len(refused) == 5
    assert all(r.retry_after is not None and r.retry_after > 2 for r in refused)


async def test_an_api_call_without_a_slot_in_time_is_503_with_retry_after(
    api: AsyncTestClient[Litestar], redis: RedisClient, keys: Keys
) -> None:
    # A 429 from Calypso seen by another replica holds the account back for 10 s.
    await UpstreamRateLimit(redis, keys, per_second=2).pause(10)
    answer = await api.get(f"/v1/customers/{uuid.uuid4()}")
    assert assert_problem(answer, 503)["code"] == "upstream_rate_limited"
    assert 8 <= int(answer.headers["retry-after"]) <= 10
