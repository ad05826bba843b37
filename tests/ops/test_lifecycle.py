"""SIGTERM: the API drains its requests; a worker stops taking work and hands work back."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from bridge.config import Settings
from bridge.events.model import Event, EventType, rfc3339_now
from bridge.events.payloads import CustomerData
from bridge.events.stream import EventLog
from bridge.local_redis import free_port
from bridge.store.keys import Keys
from bridge.views import CustomerView
from tests.conftest import ACCOUNT, TOKEN
from tests.delivery.conftest import subscribe
from tests.polling.fleet import worker_env
from tests.support.processes import bridge_processes
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.webhook_receiver import Answer, WebhookReceiver


async def wait_until_listening(port: int, within: float = 20) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.get(f"http://127.0.0.1:{port}/health/live")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"nothing on {port}")


@pytest.mark.timeout(60)
async def test_sigterm_lets_the_api_finish_requests_in_flight(
    redis: Redis, redis_url: str, sandbox: RunningServer, sandbox_control: httpx.AsyncClient
) -> None:
    port = free_port()
    env = worker_env(redis_url, sandbox.url, BRIDGE_HTTP_PORT=str(port), BRIDGE_SHUTDOWN_GRACE="5s")
    await sandbox_control.put(
        "/sandbox/faults", json={"latencyMs": 1500, "endpoints": ["customer.external.get"]}
    )
    with bridge_processes("api", 1, env) as (api,):
        await wait_until_listening(port)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            slow = asyncio.create_task(
                client.get(f"http://127.0.0.1:{port}/v1/customers", params={"externalId": "x"})
            )
            await asyncio.sleep(0.5)
            assert api.process is not None
            api.process.send_signal(signal.SIGTERM)
            answer = await slow
            assert answer.status_code == 200
            assert answer.json() == {"items": []}
        # uvicorn re-raises the signal after draining: "stopped by SIGTERM", by convention.
        assert api.process.wait(timeout=10) == -signal.SIGTERM


@pytest.mark.timeout(90)
async def test_sigterm_hands_deliveries_back_and_a_restart_delivers_them(
    api: Any, redis: Redis, redis_url: str, sandbox: RunningServer, settings: Settings
) -> None:
    app = WebhookReceiver()
    app.answer_always("/slow", Answer(delay=5))
    keys = Keys(settings.key_prefix, ACCOUNT)
    with serve_in_thread(app) as server:
        subscription = await subscribe(api, f"{server.url}/slow")
        env = worker_env(
            redis_url,
            sandbox.url,
            BRIDGE_WEBHOOK_ALLOW_HTTP="true",
            BRIDGE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
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
        with bridge_processes("worker", 1, env) as (worker,):
            await app.wait_for(10, "/slow", within=20)  # 10 in flight: the endpoint's bound
            assert worker.process is not None
            stopping = time.monotonic()
            worker.process.send_signal(signal.SIGTERM)
            assert worker.process.wait(timeout=10) == 0, worker.output()
            assert time.monotonic() - stopping < 5  # grace 1 s, then hand back
            leases = await redis.hvals(keys.deliveries_leases(subscription["id"]))
            assert leases == []  # nothing is left held by the stopped worker
            app.answer_always("/slow", Answer())
            worker.start()  # the restart picks everything up at once
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ids = {a.headers["webhook-id"] for a in app.arrivals("/slow")}
                if len(ids) == 20:
                    break
                await asyncio.sleep(0.05)
    assert len({a.headers["webhook-id"] for a in app.arrivals("/slow")}) == 20
