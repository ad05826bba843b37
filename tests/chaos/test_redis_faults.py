"""Redis dies or goes away: the bridge reconnects by itself and loses nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from bridge.api.app import create_app
from bridge.calypso.client import CalypsoClient
from bridge.worker import Worker
from tests.support.chaos import chaos_env, drive, finish, setup_run, tally
from tests.support.config import TOKEN, make_settings, scenario_settings
from tests.support.processes import bridge_processes
from tests.support.receiver import WebhookReceiver
from tests.support.restartable_redis import RestartableRedis
from tests.support.sandbox_server import RunningServer
from tests.support.steps import subscribe
from tests.support.waiting import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@pytest.mark.timeout(240)
async def test_redis_killed_and_restarted_mid_run_loses_nothing(
    aof_redis: RestartableRedis,
    chaos_redis: Redis,
    calypso: CalypsoClient,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
) -> None:
    fleet, _ = await setup_run(chaos_redis, calypso, sandbox_control, receiver.url, 60)
    with bridge_processes("worker", 2, chaos_env(aof_redis.url, sandbox.url)):
        await drive(
            fleet, chaos_redis, sandbox_control, until=lambda: len(fleet.ids) >= 90, within=120
        )
        aof_redis.kill()  # everysec: up to about a second of writes may be gone
        await asyncio.sleep(1.0)  # a second without Redis: the fault under test
        aof_redis.start()
        await finish(fleet, chaos_redis, sandbox_control, receiver, within=150)
    counts = await tally(chaos_redis, fleet, receiver)
    print(f"\nredis restart: {counts}")
    assert counts.missing_transitions == 0
    assert counts.stream_duplicates == 0
    assert counts.transitions == 60 * 4
    assert counts.undelivered == 0


@pytest.mark.timeout(120)
async def test_redis_away_for_30s_gives_quick_503s_unready_and_loses_nothing(
    aof_redis: RestartableRedis,
    chaos_redis: Redis,
    sandbox: RunningServer,
) -> None:
    settings = make_settings(aof_redis.url, sandbox.url)
    async with AsyncTestClient(app=create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        before = (await client.post("/v1/customers", json={"externalId": "kept"})).json()
        assert (await client.get("/health/ready")).status_code == 200
        aof_redis.stop()  # a clean stop: the AOF has everything
        slowest = 0.0
        away_until = time.monotonic() + 30
        while time.monotonic() < away_until:
            started = time.monotonic()
            answer: Any = await client.post("/v1/customers", json={"externalId": "during"})
            ready = await client.get("/health/ready")
            slowest = max(slowest, time.monotonic() - started)
            assert answer.status_code == 503
            assert answer.json()["code"] == "storage_unavailable"
            assert ready.status_code == 503
            await asyncio.sleep(1)  # one probe a second through the outage
        aof_redis.start()

        async def ready_again() -> bool:
            return (await client.get("/health/ready")).status_code == 200

        await eventually(ready_again, within=15, interval=0.1, what="ready after the restart")
        again = await client.post("/v1/customers", json={"externalId": "kept"})
        assert (again.status_code, again.json()["id"]) == (200, before["id"])
        watch = await client.get(f"/v1/customers/{before['id']}/watch")
        assert watch.json()["watched"] is True  # what was written before is still there
    print(f"\nslowest answer while Redis was away: {slowest:.2f} s")
    assert slowest < 5


@pytest.mark.timeout(60)
async def test_a_worker_started_while_redis_is_away_delivers_once_it_is_back(
    aof_redis: RestartableRedis,
    sandbox: RunningServer,
    receiver: WebhookReceiver,
) -> None:
    """A worker (re)started during an outage or a cluster failover waits for Redis in every
    loop, the dispatcher's consumer group included, instead of ending."""
    settings = scenario_settings(aof_redis.url, sandbox.url)
    aof_redis.stop()
    worker = Worker(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(1.5)  # the worker's first attempts meet no Redis: the fault
        assert not running.done(), running.exception()
        aof_redis.start()
        async with AsyncTestClient(app=create_app(settings)) as api:
            api.headers["Authorization"] = f"Bearer {TOKEN}"
            await subscribe(api, f"{receiver.url}/hook")
            created = await api.post("/v1/customers", json={"externalId": "after-the-outage"})
            assert created.status_code == 201

        def delivered() -> bool:
            return len(receiver.arrivals("/hook")) == 1

        await eventually(delivered, within=15, what="customer.created delivered")
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
        await worker.aclose()
