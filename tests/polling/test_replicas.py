"""Worker processes sharing the polling through leases, and surviving SIGKILL."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict

import httpx
import pytest
from redis.asyncio import Redis

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.config import Settings
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.conftest import ACCOUNT, FAST_RETRY, make_settings
from tests.polling.fleet import assert_exactly_once, make_fleet, worker_env
from tests.support.processes import bridge_processes
from tests.support.sandbox_server import RunningServer


@pytest.mark.timeout(240)
async def test_three_workers_500_customers_no_duplicate_no_loss_no_double_poll(
    redis: Redis,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    settings: Settings,
    direct_calypso: CalypsoClient,
) -> None:
    keys = Keys(settings.key_prefix, ACCOUNT)
    fleet = await make_fleet(
        500, direct_calypso, WatchList(redis, keys), sandbox_control, keys.events
    )
    await sandbox_control.delete("/sandbox/counters")
    hot = 2.0
    env = worker_env(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="2s",
        BRIDGE_POLL_IDLE_INTERVAL="8s",
        BRIDGE_POLL_LEASE="10s",
        BRIDGE_POLL_CONCURRENCY="32",
    )
    with bridge_processes("worker", 3, env) as workers:
        await fleet.drive(redis, sandbox_control, within=150)
        assert all(w.process and w.process.poll() is None for w in workers), workers[0].output()

    assert_exactly_once(fleet)
    log = (
        await sandbox_control.get("/sandbox/requests", params={"endpoint": "transaction.find"})
    ).json()["items"]
    polls: dict[str, list[float]] = defaultdict(list)
    for entry in log:
        polls[entry["customerId"]].append(entry["at"])
    assert set(polls) == set(fleet.transactions.values())
    gaps = [
        (later - earlier) / 1000
        for times in polls.values()
        for earlier, later in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    # Hot customers are due every 2 s ± 5 %; two polls closer than that would be one round
    # polled twice. Failed polls would retry sooner, but this run has no faults.
    assert min(gaps) >= hot * 0.8, sorted(gaps)[:10]


@pytest.mark.timeout(180)
async def test_a_killed_worker_loses_nothing_and_a_restart_re_emits_nothing(
    redis: Redis,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    settings: Settings,
    direct_calypso: CalypsoClient,
) -> None:
    keys = Keys(settings.key_prefix, ACCOUNT)
    fleet = await make_fleet(
        150, direct_calypso, WatchList(redis, keys), sandbox_control, keys.events
    )
    env = worker_env(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="500ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_POLL_LEASE="2s",
    )
    rng = random.Random()
    with bridge_processes("worker", 3, env) as workers:
        victim = workers[0]
        # Let the fleet get going (a random share of the first events), then kill a worker.
        target = rng.randint(100, 250)
        while len(fleet.ids) < target:
            await fleet.read(redis)
            await fleet.advance_observed(sandbox_control)
            await asyncio.sleep(0.05)
        # Kill it while it holds leases, i.e. in the middle of polls.
        assert victim.process is not None
        marker = f":{victim.process.pid}:".encode()
        held: list[bytes] = []
        for _ in range(200):
            held = [t for t in await redis.hvals(keys.poll_leases) if marker in t]
            if held:
                break
            await asyncio.sleep(0.005)
        victim.kill()
        assert held, "the victim never held a lease"
        killed_at_events = len(fleet.ids)
        for _ in range(10):
            await fleet.read(redis)
            await fleet.advance_observed(sandbox_control)
            await asyncio.sleep(0.2)
        victim.start()  # the same role again, as a restart would
        await fleet.drive(redis, sandbox_control, within=120)
    assert 0 < killed_at_events < 600
    assert_exactly_once(fleet)


@pytest.mark.timeout(30)
async def test_a_poll_slower_than_its_lease_keeps_its_customer_from_other_workers(
    redis: Redis,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    direct_calypso: CalypsoClient,
) -> None:
    settings = make_settings(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_LEASE="500ms",
        BRIDGE_CALYPSO_TIMEOUT="5s",
        BRIDGE_UPSTREAM_RATE_LIMIT="2000",
    )
    keys = Keys(settings.key_prefix, ACCOUNT)
    customer = (await direct_calypso.create_customer(models.CustomerCreate())).id
    await WatchList(redis, keys).watch(customer, "test")
    # Calypso answers the poll four lease times late, as a stalled upstream would.
    await sandbox_control.put(
        "/sandbox/faults", json={"latencyMs": 2000, "endpoints": ["transaction.find"]}
    )
    slow = Worker(settings, retry=FAST_RETRY, name="slow")
    try:
        polling = asyncio.create_task(slow.drain())
        while (held := await redis.hget(keys.poll_leases, customer)) is None:
            await asyncio.sleep(0.01)
        worker, expiry = (held if isinstance(held, str) else held.decode()).rsplit(":", 1)
        assert worker == "slow"
        while time.time() * 1000 < int(expiry) + 200:
            await asyncio.sleep(0.02)  # the lease as first claimed has run out by now
        other = PollSchedule(redis, keys)
        assert await other.claim("other", 10, settings.poll_lease) == []  # still the slow poll's
        assert await polling == 1
    finally:
        await slow.aclose()
    polls = await sandbox_control.get(
        "/sandbox/requests", params={"endpoint": "transaction.find", "customerId": customer}
    )
    assert len(polls.json()["items"]) == 1
    # Its completion was kept: the lease was still its own when the poll ended.
    assert slow.metrics.registry.get_sample_value("bridge_polls_total", {"outcome": "ok"}) == 1
