"""Leases, pokes and the shared rate limit, against a real Redis."""

from __future__ import annotations

import asyncio
import time

from bridge.poller.cadence import Cadence
from bridge.poller.ratelimit import UpstreamRateLimit
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import Lease
from tests.support.redis_modes import both_redis_modes
from tests.support.waiting import eventually

pytestmark = both_redis_modes


async def watched(redis: RedisClient, keys: Keys, count: int) -> list[str]:
    customers = [f"c-{n}" for n in range(count)]
    watchlist = WatchList(redis, keys)
    for customer in customers:
        await watchlist.watch(customer, "test")
    return customers


async def test_concurrent_claims_never_share_a_customer(redis: RedisClient, keys: Keys) -> None:
    customers = await watched(redis, keys, 200)
    schedules = [PollSchedule(redis, keys) for _ in range(4)]
    batches = await asyncio.gather(*(s.claim(f"w{n}", 80, 30) for n, s in enumerate(schedules)))
    claimed = [lease.item for batch in batches for lease in batch]
    assert sorted(claimed) == sorted(customers)
    assert await schedules[0].claim("late", 10, 30) == []


async def test_an_expired_lease_passes_to_another_worker(redis: RedisClient, keys: Keys) -> None:
    (customer,) = await watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (dead,) = await schedule.claim("dead-worker", 10, 0.2)
    assert await schedule.claim("other", 10, 30) == []
    # Once the lease has run out, another worker's claim gets the customer.
    (taken,) = await eventually(lambda: schedule.claim("other", 10, 30), within=5)
    assert taken.item == customer
    # The dead worker's late completion is ignored: the lease is no longer its own.
    assert await schedule.complete(dead, int(time.time() * 1000), Cadence()) is False
    assert await schedule.complete(taken, int(time.time() * 1000) + 60_000, Cadence()) is True


async def past_expiry(lease: Lease) -> None:
    """Let the clock pass a lease's expiry: the passing time is what these tests are about."""
    await asyncio.sleep(max(0.0, lease.expiry_ms / 1000 - time.time()) + 0.02)


async def test_a_renewed_lease_keeps_the_customer_past_its_first_expiry(
    redis: RedisClient, keys: Keys
) -> None:
    (customer,) = await watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (first,) = await schedule.claim("slow", 10, 0.2)
    renewed = await schedule.renew(first, "slow", 30)
    assert renewed is not None
    assert renewed.item == customer
    await past_expiry(first)
    assert await schedule.claim("other", 10, 30) == []
    assert await schedule.next_due() == float(renewed.expiry_ms)
    # The poll completes with the lease as renewed; the token it was claimed with is spent.
    assert await schedule.complete(first, int(time.time() * 1000), Cadence()) is False
    assert await schedule.complete(renewed, int(time.time() * 1000), Cadence()) is True


async def test_a_lapsed_lease_is_not_renewed(redis: RedisClient, keys: Keys) -> None:
    (customer,) = await watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (lease,) = await schedule.claim("stalled", 10, 0.2)
    await past_expiry(lease)
    # Nobody took it yet, but a lapsed lease is the next claimer's: a poke may be waiting.
    assert await schedule.renew(lease, "stalled", 30) is None
    (taken,) = await schedule.claim("other", 10, 30)
    assert taken.item == customer
    assert await schedule.renew(lease, "stalled", 30) is None
    assert await schedule.renew(taken, "other", 30) is not None


async def test_a_poke_during_a_poll_makes_the_customer_due_right_after_it(
    redis: RedisClient, keys: Keys
) -> None:
    (customer,) = await watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (lease,) = await schedule.claim("w", 10, 30)
    assert await schedule.poke(customer) is True
    assert await schedule.claim("other", 10, 30) == []  # still polled by one worker only
    await schedule.complete(lease, int(time.time() * 1000) + 60_000, Cadence())
    (again,) = await schedule.claim("other", 10, 30)
    assert again.item == customer


async def test_a_poke_of_an_idle_customer_makes_it_due_now(redis: RedisClient, keys: Keys) -> None:
    (customer,) = await watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (lease,) = await schedule.claim("w", 10, 30)
    await schedule.complete(lease, int(time.time() * 1000) + 60_000, Cadence(idle_streak=3))
    assert await schedule.claim("w", 10, 30) == []
    await schedule.poke(customer)
    assert [lease.item for lease in await schedule.claim("w", 10, 30)] == [customer]
    assert await schedule.cadence(customer) == Cadence(idle_streak=3)


async def test_unwatching_during_a_poll_schedules_nothing_after_it(
    redis: RedisClient, keys: Keys
) -> None:
    (customer,) = await watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (lease,) = await schedule.claim("w", 10, 30)
    await WatchList(redis, keys).unwatch(customer)
    await schedule.complete(lease, int(time.time() * 1000), Cadence())
    assert await schedule.size() == 0
    assert await schedule.poke(customer) is False


async def test_the_rate_limit_is_shared_by_every_limiter(redis: RedisClient, keys: Keys) -> None:
    limiters = [UpstreamRateLimit(redis, keys, per_second=50) for _ in range(3)]
    started = time.monotonic()
    await asyncio.gather(*(limiters[n % 3].acquire() for n in range(30)))
    # 30 calls at 50/s cannot take less than 29 intervals, whichever limiter admits them.
    assert time.monotonic() - started >= 29 / 50 * 0.95


async def test_a_pause_holds_every_caller_back(redis: RedisClient, keys: Keys) -> None:
    limit = UpstreamRateLimit(redis, keys, per_second=1000)
    await limit.acquire()
    await UpstreamRateLimit(redis, keys, per_second=1000).pause(0.3)
    started = time.monotonic()
    await limit.acquire()
    assert time.monotonic() - started >= 0.25
