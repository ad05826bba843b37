"""Metrics, probes, request ids, JSON logs without secrets, and the local receiver."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from bridge.delivery.signing import headers as signed_headers
from bridge.delivery.signing import new_secret
from bridge.events.model import EventType
from bridge.events.samples import sample_event
from bridge.local_redis import free_port
from bridge.metrics import Metrics
from bridge.probes import WorkerProbes
from bridge.store.connection import RedisClient, connect
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.support.config import ACCOUNT, API_SECRET, TOKEN, worker_env
from tests.support.processes import bridge_processes, wait_until_listening
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.redis_modes import both_redis_modes
from tests.support.sandbox_server import RunningServer
from tests.support.steps import subscribe
from tests.support.waiting import eventually

# Every metric about the account carries its label.
A = f'account="{ACCOUNT}"'


async def test_api_metrics_cover_requests_upstream_and_the_shared_backlog(api: Any) -> None:
    await api.post("/v1/customers", json={})
    await api.get("/v1/customers/6f1c1c52-86f4-4a8e-9d49-0d7c5f0f2b11")
    answer = await api.get("/metrics", headers={"Authorization": ""})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert 'bridge_api_requests_total{method="POST",route="/v1/customers",status="201"} 1.0' in text
    assert 'route="/v1/customers/{customer_id}",status="404"' in text
    assert (
        f'bridge_upstream_request_seconds_count{{{A},endpoint="customer.create",outcome="200"}}'
        in text
    )
    assert f"bridge_stream_length{{{A}}} 1.0" in text  # customer.created
    assert f"bridge_watched_customers{{{A}}} 1.0" in text
    assert f"bridge_webhook_retry_backlog{{{A}}} 0.0" in text


async def test_request_ids_are_echoed_or_made(api: Any) -> None:
    given = await api.get("/health/live", headers={"X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    odd = await api.get("/health/live", headers={"X-Request-ID": "x" * 200})
    made = odd.headers["x-request-id"]
    assert len(made) == 32
    assert made != "x" * 200


@both_redis_modes
async def test_worker_probes_answer_and_serve_metrics(redis: RedisClient, redis_url: str) -> None:
    client = connect(redis_url)
    metrics = Metrics()
    metrics.for_account(ACCOUNT).polls.labels("ok").inc()
    port = free_port()
    probes = WorkerProbes(client, Keys("bridge", ACCOUNT), metrics, host="127.0.0.1", port=port)
    await probes.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/health/live")).json() == {"status": "ok"}
            assert (await http.get("/health/ready")).json() == {"status": "ready"}
            scraped = await http.get("/metrics")
            assert f'bridge_polls_total{{{A},outcome="ok"}} 1.0' in scraped.text
            assert "bridge_stream_length" in scraped.text
    finally:
        await probes.stop()
        await client.aclose()


@both_redis_modes
async def test_metrics_read_the_shared_backlog(
    api: httpx.AsyncClient, worker: Worker, receiver: WebhookReceiver
) -> None:
    receiver.answer_always("/down", Answer(500))
    await subscribe(api, f"{receiver.url}/down")
    await api.post("/v1/customers", json={})
    await api.post("/v1/customers", json={})
    await worker.deliver()  # first attempts fail: two deliveries wait for their retry

    assert (await api.get("/health/ready")).json() == {"status": "ready"}
    text = (await api.get("/metrics", headers={"Authorization": ""})).text
    assert f"bridge_stream_length{{{A}}} 2.0" in text
    assert f"bridge_watched_customers{{{A}}} 2.0" in text
    assert f"bridge_webhook_retry_backlog{{{A}}} 2.0" in text
    assert f"bridge_webhook_dead_letter_queue{{{A}}} 0.0" in text
    assert f'bridge_stream_group_lag{{{A},group="bridge-dispatcher"}} 0.0' in text
    assert f'bridge_stream_group_pending{{{A},group="bridge-dispatcher"}} 0.0' in text

    port = free_port()
    probes = WorkerProbes(worker.redis, worker.keys, worker.metrics, host="127.0.0.1", port=port)
    await probes.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/health/ready")).json() == {"status": "ready"}
            scraped = (await http.get("/metrics")).text
        assert f"bridge_webhook_retry_backlog{{{A}}} 2.0" in scraped
        assert f'bridge_webhook_attempts_total{{{A},outcome="failed"}} 2.0' in scraped
    finally:
        await probes.stop()


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_api_logs_are_json_with_request_ids_and_no_secrets(
    redis: RedisClient, redis_url: str, sandbox: RunningServer
) -> None:
    port = free_port()
    env = worker_env(
        redis_url,
        sandbox.url,
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_LOG_FORMAT="json",
        BRIDGE_LOG_LEVEL="INFO",
    )
    with bridge_processes("api", 1, env) as (process,):
        await wait_until_listening(port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            auth = {"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "req-42"}
            await client.post("/v1/customers", json={"email": "a@b.io"}, headers=auth)
            await client.get("/v1/customers", headers={"Authorization": "Bearer wrong-token-1"})
        assert process.process is not None
        process.process.send_signal(signal.SIGTERM)
        process.process.wait(timeout=10)
        everything = process.output()  # the log lives in a directory removed on exit
    lines = [json.loads(line) for line in everything.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert any(r.get("request_id") == "req-42" and r["status"] == 201 for r in requests)
    assert all({"timestamp", "level", "logger"} <= set(line) for line in lines)
    for secret in (TOKEN, API_SECRET, "wrong-token-1"):
        assert secret not in everything


@pytest.mark.timeout(60)
async def test_bridge_receive_verifies_and_prints_each_webhook() -> None:
    secret, port = new_secret(), free_port()
    receiver = subprocess.Popen(  # noqa: ASYNC220 - starting a process returns at once
        [sys.executable, "-m", "bridge", "receive", "--port", str(port), "--secret", secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        event = sample_event(ACCOUNT, EventType.PING, "sub_" + "a" * 24)
        body = event.encode()
        async with httpx.AsyncClient() as client:

            async def first_answer() -> httpx.Response | None:
                try:
                    return await client.post(
                        f"http://127.0.0.1:{port}/webhooks",
                        content=body,
                        headers=signed_headers([secret], event.id, int(time.time()), body),
                    )
                except httpx.TransportError:
                    return None  # not listening yet

            good = await eventually(first_answer, within=15, interval=0.05, what="bridge receive")
            assert good is not None
            bad = await client.post(
                f"http://127.0.0.1:{port}/webhooks",
                content=body,
                headers=signed_headers([new_secret()], event.id, int(time.time()), body),
            )
            # Signed right, but not an event of the bridge: verify_webhook refuses it too.
            junk = b'{"id": "evt_1", "type": "ping", "data": {}}'
            odd = await client.post(
                f"http://127.0.0.1:{port}/webhooks",
                content=junk,
                headers=signed_headers([secret], "evt_1", int(time.time()), junk),
            )
        assert (good.status_code, bad.status_code, odd.status_code) == (204, 401, 401)
    finally:
        receiver.send_signal(signal.SIGTERM)
        output, _ = receiver.communicate(timeout=10)
    assert receiver.returncode == 0
    lines = [line.split()[1:] for line in output.splitlines() if "ping" in line]
    assert lines == [
        ["verified", "ping", event.id],
        ["REJECTED", "bad_signature", "ping", event.id],
        ["REJECTED", "not_an_event", "ping", "evt_1"],
    ], output


def test_bridge_receive_needs_a_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "receive"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--secret: required" in result.stderr
    assert "Traceback" not in result.stderr
