"""A signed Calypso webhook makes the event appear long before the next scheduled poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from bridge.api.app import create_app
from bridge.config import Settings
from bridge.worker import Worker
from tests.conftest import FAST_RETRY, TOKEN, make_settings
from tests.polling.conftest import transaction_events
from tests.support.sandbox_server import RunningServer, serve_in_thread

SECRET = "inbound-secret"


@pytest.fixture
def slow_settings(redis_url: str, sandbox: RunningServer) -> Settings:
    """Scheduled polls 30 s apart, so only the hint can explain a quick event."""
    return make_settings(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="30s",
        BRIDGE_POLL_IDLE_INTERVAL="60s",
        BRIDGE_UPSTREAM_RATE_LIMIT="1000",
        BRIDGE_CALYPSO_WEBHOOK_SECRET=SECRET,
    )


@pytest.fixture
async def running_worker(slow_settings: Settings, redis: Redis) -> AsyncIterator[Worker]:
    worker = Worker(slow_settings, retry=FAST_RETRY, name="hinted")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task
    await worker.aclose()


async def wait_for(predicate: object, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await predicate():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


@pytest.mark.timeout(60)
async def test_hints_bring_each_transition_in_well_before_the_next_poll(
    slow_settings: Settings,
    running_worker: Worker,
    redis: Redis,
    sandbox_control: httpx.AsyncClient,
) -> None:
    with serve_in_thread(create_app(slow_settings, retry=FAST_RETRY)) as api_server:
        hook = {"url": f"{api_server.url}/v1/calypso/webhooks", "secret": SECRET}
        assert (await sandbox_control.put("/sandbox/webhooks", json=hook)).status_code == 200
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=api_server.url, headers=headers) as api:
            customer = (await api.post("/v1/customers", json={})).json()["id"]
            purse = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "ETH"})
            address = purse.json()["address"]

            async def polled_and_parked() -> bool:
                due = await redis.zscore(running_worker.keys.poll_schedule, customer)
                return due is not None and due > (time.time() + 20) * 1000

            await wait_for(polled_and_parked, 10)
            made = await sandbox_control.post(
                "/sandbox/deposits", json={"address": address, "currency": "ETH", "amount": "1"}
            )
            tx = made.json()["id"]
            latencies = []
            for step in range(4):

                async def arrived(count: int = step + 1) -> bool:
                    events = await transaction_events(redis, slow_settings, tx)
                    return len(events) >= count

                latencies.append(await wait_for(arrived, 10))
                if step < 3:
                    await sandbox_control.post(f"/sandbox/transactions/{tx}/advance")
    events = await transaction_events(redis, slow_settings, tx)
    assert [e["type"] for e in events] == [
        "transaction.mem_pool_found",
        "transaction.pending_compliance_check",
        "transaction.confirmed",
        "transaction.credited",
    ]
    # 30 s until the next scheduled poll; the hints bring each one in within a couple of
    # seconds even on a loaded machine (typically tens of milliseconds).
    assert max(latencies) < 3, latencies
