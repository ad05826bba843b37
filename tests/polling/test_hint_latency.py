"""A signed Calypso webhook makes the event appear long before the next scheduled poll."""

from __future__ import annotations

import time

import httpx
import pytest

from bridge.api.app import create_app
from bridge.config import Settings
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import FAST_RETRY, INBOUND_SECRET, TOKEN, scenario_settings
from tests.support.reading import transaction_events
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.steps import advance, deposit, new_customer_with_address
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory


@pytest.fixture
def slow_settings(redis_url: str, sandbox: RunningServer) -> Settings:
    """Scheduled polls 30 s apart, so only the hint can explain a quick event."""
    return scenario_settings(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="30s",
        BRIDGE_POLL_IDLE_INTERVAL="60s",
        BRIDGE_UPSTREAM_RATE_LIMIT="1000",
    )


@pytest.mark.timeout(60)
async def test_hints_bring_each_transition_in_well_before_the_next_poll(
    slow_settings: Settings,
    workers: WorkerFactory,
    redis: RedisClient,
    keys: Keys,
    sandbox_control: httpx.AsyncClient,
) -> None:
    running = workers(slow_settings, name="hinted")
    workers.start(running.run)
    with serve_in_thread(create_app(slow_settings, retry=FAST_RETRY)) as api_server:
        hook = {"url": f"{api_server.url}/v1/calypso/webhooks", "secret": INBOUND_SECRET}
        assert (await sandbox_control.put("/sandbox/webhooks", json=hook)).status_code == 200
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=api_server.url, headers=headers) as api:
            customer, address = await new_customer_with_address(api)

            async def polled_and_parked() -> bool:
                due = await redis.zscore(keys.poll_schedule, customer)
                return due is not None and due > (time.time() + 20) * 1000

            await eventually(polled_and_parked, within=10)
            tx = await deposit(sandbox_control, address, "1")
            latencies = []
            for step in range(4):

                async def arrived(count: int = step + 1) -> bool:
                    return len(await transaction_events(redis, keys, tx)) >= count

                started = time.monotonic()
                await eventually(arrived, within=10)
                latencies.append(time.monotonic() - started)
                if step < 3:
                    await advance(sandbox_control, tx)
    events = await transaction_events(redis, keys, tx)
    assert [e["type"] for e in events] == [
        "transaction.mem_pool_found",
        "transaction.pending_compliance_check",
        "transaction.confirmed",
        "transaction.credited",
    ]
    # 30 s until the next scheduled poll; the hints bring each one in within a couple of
    # seconds even on a loaded machine (typically tens of milliseconds).
    assert max(latencies) < 3, latencies
