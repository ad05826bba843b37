"""The bridge as its own Redis ACL user (``bridge acl bridge``): the API and a worker, real
processes, run the whole lifecycle and are never refused; what it does not need is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bridge.local_redis import free_port
from bridge.store.keys import Keys
from tests.support.acl_users import AclUsers, allowed_of
from tests.support.config import (
    ACCOUNT,
    INBOUND_SECRET,
    LOOPBACK_RECEIVERS,
    RETRY_SCHEDULE,
    TOKEN,
    worker_env,
)
from tests.support.hints import hint, send_signed_hint
from tests.support.processes import BridgeProcess, bridge_processes, wait_until_listening
from tests.support.reading import verified
from tests.support.receiver import WebhookReceiver
from tests.support.sandbox_server import RunningServer
from tests.support.steps import advance, deposit, new_customer_with_address, subscribe
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

BRIDGE_PASSWORD = "bridge-password-0123456789"


@pytest.fixture
async def acl(redis: Redis, redis_url: str) -> AsyncIterator[AclUsers]:
    users = AclUsers(redis, redis_url)
    await redis.acl_log_reset()
    yield users
    await users.aclose()


def events_at(receiver: WebhookReceiver, secret: str) -> list[dict[str, Any]]:
    return [verified(secret, arrival) for arrival in receiver.arrivals("/hook")]


@pytest.mark.timeout(120)
async def test_the_whole_lifecycle_runs_as_the_bridge_acl_user(
    acl: AclUsers,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
) -> None:
    url = await acl.make("bridge", password=BRIDGE_PASSWORD)
    api_port, metrics_port = free_port(), free_port()
    env = worker_env(
        url,
        sandbox.url,
        **LOOPBACK_RECEIVERS,
        BRIDGE_HTTP_PORT=str(api_port),
        BRIDGE_POLL_HOT_INTERVAL="200ms",
        BRIDGE_WEBHOOK_RETRY_SCHEDULE=RETRY_SCHEDULE,
        BRIDGE_CALYPSO_WEBHOOK_SECRET=INBOUND_SECRET,
    )
    worker_metrics = {"BRIDGE_METRICS_PORT": str(metrics_port)}
    with (
        bridge_processes("api", 1, env) as (api_process,),
        bridge_processes("worker", 1, {**env, **worker_metrics}) as (worker_process,),
    ):
        await wait_until_listening(api_port)
        await wait_until_listening(metrics_port)
        base = f"http://127.0.0.1:{api_port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            await _lifecycle(api, sandbox_control, receiver)
            assert (await api.get("/metrics")).status_code == 200
        async with httpx.AsyncClient() as scraper:
            answer = await scraper.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert answer.status_code == 200
            assert (await scraper.get(f"http://127.0.0.1:{metrics_port}/health/ready")).is_success
        outputs = _outputs(api_process, worker_process)
    # The durability check asks CONFIG GET first (refused: it would show requirepass) and
    # reads INFO instead; nothing else the bridge sent was refused, from Lua scripts neither.
    refused = {str(entry["object"]) for entry in await acl.denied("bridge")}
    assert refused <= {"config|get"}, refused
    assert "NOPERM" not in outputs


async def _lifecycle(
    api: httpx.AsyncClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    assert (await api.get("/health/ready")).status_code == 200
    subscription = await subscribe(api, f"{receiver.url}/hook")
    secret, sid = subscription["secret"], subscription["id"]
    customer, address = await new_customer_with_address(api)
    again = await api.post("/v1/customers", json={}, headers={"Idempotency-Key": "acl-1"})
    assert again.status_code == 201
    tx = await deposit(control, address, "1.5")
    for _ in range(3):
        await advance(control, tx)
    assert (await send_signed_hint(api, hint(customer))).status_code in (200, 202, 204)

    def credited() -> bool:
        return "transaction.credited" in {e["type"] for e in events_at(receiver, secret)}

    await eventually(credited, within=30, what="transaction.credited delivered")
    assert (await api.get(f"/v1/transactions/{tx}")).status_code == 200
    assert (await api.get(f"/v1/customers/{customer}/transactions")).status_code == 200
    assert (await api.get(f"/v1/customers/{customer}/watch")).status_code == 200
    events = (await api.get("/v1/events")).json()["items"]
    assert (await api.get(f"/v1/events/{events[0]['id']}")).status_code == 200
    streamed = await api.get("/v1/events/stream", params={"after": "0", "wait": "1"})
    assert streamed.status_code == 200, streamed.text
    assert streamed.text.count("\nevent: ") >= len(events)

    rotated = await api.post(f"/v1/subscriptions/{sid}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    before = len(receiver.arrivals("/hook"))
    await api.post("/v1/customers", json={})
    await eventually(lambda: len(receiver.arrivals("/hook")) > before, within=20)
    newest = receiver.arrivals("/hook")[-1]
    assert verified(new_secret, newest) == verified(secret, newest)  # both sign in the overlap

    before = len(receiver.arrivals("/hook"))
    replay = await api.post(f"/v1/subscriptions/{sid}/replay", json={"since": started.isoformat()})
    assert replay.is_success, replay.text
    await eventually(lambda: len(receiver.arrivals("/hook")) >= 2 * before, within=30)
    before = len(receiver.arrivals("/hook"))
    redeliver = await api.post(f"/v1/events/{events[0]['id']}/redeliver", json={})
    assert redeliver.is_success, redeliver.text
    test = await api.post(f"/v1/subscriptions/{sid}/test", json={})
    assert test.is_success, test.text
    await eventually(lambda: len(receiver.arrivals("/hook")) >= before + 2, within=20)
    assert any(e.get("test") for e in events_at(receiver, secret))
    assert (await api.get(f"/v1/subscriptions/{sid}/deliveries")).status_code == 200
    assert (await api.get(f"/v1/subscriptions/{sid}/dead-letters")).status_code == 200
    disabled = await api.patch(f"/v1/subscriptions/{sid}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert (await api.delete(f"/v1/customers/{customer}/watch")).is_success
    assert (await api.delete(f"/v1/subscriptions/{sid}")).status_code == 204


def _outputs(*processes: BridgeProcess) -> str:
    return "\n".join(process.output() for process in processes)


async def test_the_bridge_user_is_refused_what_the_bridge_does_not_need(
    redis: Redis, acl: AclUsers
) -> None:
    url = await acl.make("bridge", password=BRIDGE_PASSWORD)
    keys = Keys("bridge", ACCOUNT)
    await redis.set("elsewhere:secret", "x")
    # Asked with ACL DRYRUN: never run (a SHUTDOWN would end the session's Redis).
    dangerous = [
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("CONFIG", "SET", "appendonly", "no"),
        ("CONFIG", "REWRITE"),
        ("DEBUG", "SLEEP", "0"),
        ("SHUTDOWN", "NOSAVE"),
        ("ACL", "SETUSER", "someone", "on", "+@all"),
        ("MODULE", "LOAD", "/tmp/x.so"),
        ("SCRIPT", "FLUSH"),
        ("FUNCTION", "FLUSH"),
        ("CLIENT", "KILL", "ID", "1"),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("SWAPDB", "0", "1"),
        ("MIGRATE", "127.0.0.1", "1", keys.events, "0", "10"),
    ]
    assert [c for c in dangerous if await acl.permits("bridge", *c)] == []
    refused = {
        "CONFIG GET": ("CONFIG", "GET", "requirepass"),
        "KEYS": ("KEYS", "*"),
        "SCAN": ("SCAN", "0"),
        "ACL": ("ACL", "LIST"),
        "MODULE": ("MODULE", "LIST"),
        "CLIENT LIST": ("CLIENT", "LIST"),
        "SUBSCRIBE": ("SUBSCRIBE", "anything"),
        "EVAL (the bridge loads its scripts, then calls them by SHA)": ("EVAL", "return 1", "0"),
        "a key outside the prefix": ("GET", "elsewhere:secret"),
    }
    async with Redis.from_url(url) as bridge:
        assert await allowed_of(bridge, refused) == []
        # A script it loads runs with its rights too: no key outside the prefix from Lua.
        sha = await bridge.script_load("return redis.call('GET', 'elsewhere:secret')")
        with pytest.raises(ResponseError, match="can't access"):
            await bridge.evalsha(sha, 0)
        await bridge.set(keys.upstream_rate, "1")  # its own keys it may use
    assert await redis.get("elsewhere:secret") == b"x"
