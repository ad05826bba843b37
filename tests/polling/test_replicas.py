"""Worker processes sharing the polling through leases, and surviving SIGKILL."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from typing import cast

import httpx
import pytest

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import Lease
from tests.support.config import make_settings, worker_env
from tests.support.fleet import assert_exactly_once, make_fleet
from tests.support.processes import bridge_processes
from tests.support.sandbox_server import RunningServer
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.slow


@pytest.mark.serial  # measures time
@pytest.mark.timeout(240)
async def test_three_workers_500_customers_no_duplicate_no_loss_no_double_poll(
    redis: RedisClient,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    keys: Keys,
    calypso: CalypsoClient,
) -> None:
    fleet = await make_fleet(500, calypso, WatchList(redis, keys), sandbox_control, keys.events)
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
    redis: RedisClient,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    keys: Keys,
    calypso: CalypsoClient,
) -> None:
    fleet = await make_fleet(150, calypso, WatchList(redis, keys), sandbox_control, keys.events)
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

        async def got_going() -> bool:
            return len(fleet.ids) >= target

        await fleet.drive(redis, sandbox_control, within=60, until=got_going, tick=0.05)
        assert victim.process is not None
        marker = f":{victim.process.pid}:".encode()

        async def victim_leases() -> list[bytes]:
            tokens = cast(list[bytes], await redis.hvals(keys.poll_leases))
            return [t for t in tokens if marker in t]

        # Kill it while it holds leases, i.e. in the middle of polls.
        await eventually(victim_leases, within=10, interval=0.005, what="a lease of the victim")
        victim.kill()
        killed_at_events = len(fleet.ids)

        async def taken_over() -> bool:
            return not await victim_leases()

        # Its leases run out (2 s) and the others take its customers over; then it restarts.
        await fleet.drive(redis, sandbox_control, within=30, until=taken_over)
        victim.start()  # the same role again, as a restart would
        await fleet.drive(redis, sandbox_control, within=120)
    assert 0 < killed_at_events < 600
    assert_exactly_once(fleet)


@pytest.mark.timeout(30)
async def test_a_poll_slower_than_its_lease_keeps_its_customer_from_other_workers(
    redis: RedisClient,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    calypso: CalypsoClient,
    workers: WorkerFactory,
) -> None:
    settings = make_settings(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_LEASE="500ms",
        BRIDGE_CALYPSO_TIMEOUT="5s",
        BRIDGE_UPSTREAM_RATE_LIMIT="2000",
    )
    keys = Keys(settings.key_prefix, settings.calypso_account)
    customer = (await calypso.create_customer(models.CustomerCreate())).id
    await WatchList(redis, keys).watch(customer, "test")
    # Calypso answers the poll four lease times late, as a stalled upstream would.
    await sandbox_control.put(
        "/sandbox/faults", json={"latencyMs": 2000, "endpoints": ["transaction.find"]}
    )
    slow = workers(settings, name="slow")
    polling = asyncio.create_task(slow.drain())
    held = await eventually(lambda: redis.hget(keys.poll_leases, customer), within=5)
    first = Lease(customer, cast(bytes, held).decode(), 0)
    assert first.worker == "slow"
    # The time passing beyond the lease as first claimed is what this test is about.
    await asyncio.sleep(max(0.0, first.expiry_ms / 1000 - time.time()) + 0.2)
    other = PollSchedule(redis, keys)
    assert await other.claim("other", 10, settings.poll_lease) == []  # still the slow poll's
    assert await polling == 1
    polls = await sandbox_control.get(
        "/sandbox/requests", params={"endpoint": "transaction.find", "customerId": customer}
    )
    assert len(polls.json()["items"]) == 1
    # Its completion was kept: the lease was still its own when the poll ended.
    ok = {"account": slow.components.account.id, "outcome": "ok"}
    assert slow.metrics.registry.get_sample_value("bridge_polls_total", ok) == 1
