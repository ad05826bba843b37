"""SIGTERM: the API drains its requests; a worker stops taking work and hands work back."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from bridge.events.model import Event, EventType, rfc3339_now
from bridge.events.payloads import CustomerData
from bridge.events.stream import EventLog
from bridge.local_redis import free_port
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.views import CustomerView
from tests.support.config import ACCOUNT, LOOPBACK_RECEIVERS, TOKEN, worker_env
from tests.support.processes import bridge_processes, wait_until_listening
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.sandbox_server import RunningServer
from tests.support.steps import subscribe
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


@pytest.mark.timeout(60)
async def test_sigterm_lets_the_api_finish_requests_in_flight(
    redis: RedisClient, redis_url: str, sandbox: RunningServer, sandbox_control: httpx.AsyncClient
) -> None:
    port = free_port()
    env = worker_env(redis_url, sandbox.url, BRIDGE_HTTP_PORT=str(port), BRIDGE_SHUTDOWN_GRACE="5s")
    # The upstream answers slowly; its first answer is a 503 the API retries, and using up
    # that one forced failure is what shows the request has reached the upstream.
    slow = {"latencyMs": 1000, "failNext": 1, "endpoints": ["customer.external.get"]}
    await sandbox_control.put("/sandbox/faults", json=slow)

    async def upstream_reached() -> bool:
        return bool((await sandbox_control.get("/sandbox/faults")).json()["failNext"] == 0)

    with bridge_processes("api", 1, env) as (api,):
        await wait_until_listening(port)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            request = asyncio.create_task(
                client.get(f"http://127.0.0.1:{port}/v1/customers", params={"externalId": "x"})
            )
            await eventually(upstream_reached, what="the request in flight upstream")
            assert api.process is not None
            api.process.send_signal(signal.SIGTERM)
            answer = await request
            assert answer.status_code == 200
            assert answer.json() == {"items": []}
        # uvicorn re-raises the signal after draining: "stopped by SIGTERM", by convention.
        assert api.process.wait(timeout=10) == -signal.SIGTERM


@pytest.mark.timeout(90)
@pytest.mark.foreign_events  # fills the stream with made-up events
async def test_sigterm_hands_deliveries_back_and_a_restart_delivers_them(
    api: httpx.AsyncClient,
    redis: RedisClient,
    redis_url: str,
    sandbox: RunningServer,
    keys: Keys,
    receiver: WebhookReceiver,
) -> None:
    receiver.answer_always("/slow", Answer(delay=5))
    subscription = await subscribe(api, f"{receiver.url}/slow")
    env = worker_env(
        redis_url,
        sandbox.url,
        **LOOPBACK_RECEIVERS,
        BRIDGE_WEBHOOK_TIMEOUT="10s",
        BRIDGE_SHUTDOWN_GRACE="1s",
    )
    log = EventLog(redis, keys, retention=3600)
    customer = "00000000-0000-4000-8000-000000000001"
    data = CustomerData(customer, CustomerView(customer, blocked=False))
    await log.append(
        [
            Event(f"evt_term{n:04d}", EventType.CUSTOMER_UPDATED, rfc3339_now(), ACCOUNT, data)
            for n in range(20)
        ]
    )

    def all_delivered() -> bool:
        return len({a.headers["webhook-id"] for a in receiver.arrivals("/slow")}) == 20

    with bridge_processes("worker", 1, env) as (worker,):
        await receiver.wait_for(10, "/slow", within=20)  # 10 in flight: the endpoint's bound
        assert worker.process is not None
        stopping = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=10) == 0, worker.output()
        assert time.monotonic() - stopping < 5  # grace 1 s, then hand back
        leases = await redis.hvals(keys.deliveries_leases(subscription["id"]))
        assert leases == []  # nothing is left held by the stopped worker
        receiver.answer_always("/slow", Answer())
        worker.start()  # the restart picks everything up at once
        await eventually(all_delivered, within=30, interval=0.05, what="all 20 delivered")
