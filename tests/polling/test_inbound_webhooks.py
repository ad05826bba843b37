"""Inbound Calypso webhooks are verified hints: they trigger a poll and never carry state."""

from __future__ import annotations

import time

import httpx
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.calypso.signing import sign
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.support.config import FAST_RETRY, INBOUND_SECRET, make_settings
from tests.support.hints import hint, send_hint, send_signed_hint
from tests.support.reading import stream_events, transaction_events
from tests.support.redis_modes import both_redis_modes
from tests.support.sandbox_server import RunningServer
from tests.support.steps import deposit, new_customer_with_address
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory

pytestmark = both_redis_modes


async def due_at(redis: RedisClient, worker: Worker, customer: str) -> float | None:
    score = await redis.zscore(worker.keys.poll_schedule, customer)
    return None if score is None else float(score)


async def test_a_signed_hint_makes_the_customer_due_now(
    api: httpx.AsyncClient, worker: Worker, redis: RedisClient
) -> None:
    customer, _ = await new_customer_with_address(api)
    await worker.drain()
    assert (await due_at(redis, worker, customer) or 0) > time.time() * 1000
    body = hint(customer)
    answer = await send_signed_hint(api, body)
    assert answer.status_code == 202
    assert answer.json() == {"status": "accepted", "customerId": customer}
    assert (await due_at(redis, worker, customer) or 0) <= time.time() * 1000


async def test_bad_or_missing_signatures_get_401_and_change_nothing(
    api: httpx.AsyncClient, worker: Worker, redis: RedisClient
) -> None:
    customer, _ = await new_customer_with_address(api)
    await worker.drain()
    due = await due_at(redis, worker, customer)
    entries = await redis.xlen(worker.keys.events)
    body = hint(customer, "CUSTOMER_PURSE_EXPIRED", purseId="p-1", address="x")
    for signature in (
        None,
        "",
        "00" * 64,
        sign(body, "wrong-secret"),
        sign(body + b" ", INBOUND_SECRET),
    ):
        answer = await send_hint(api, body, signature)
        assert answer.status_code == 401
        assert answer.json()["code"] == "bad_signature"
    assert await due_at(redis, worker, customer) == due
    assert await redis.xlen(worker.keys.events) == entries


async def test_a_repeated_webhook_id_is_recognised(api: httpx.AsyncClient, worker: Worker) -> None:
    customer, _ = await new_customer_with_address(api)
    body = hint(customer, webhook_id=7)
    first = await send_signed_hint(api, body)
    again = await send_signed_hint(api, body)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate"


async def test_purse_expiry_becomes_deposit_address_expired_once(
    api: httpx.AsyncClient, redis: RedisClient, keys: Keys
) -> None:
    customer, address = await new_customer_with_address(api)
    for webhook_id in (1, 2):  # Calypso may send the same fact under two ids
        body = hint(
            customer,
            "CUSTOMER_PURSE_EXPIRED",
            webhook_id=webhook_id,
            purseId="p-9",
            address=address,
        )
        assert (await send_signed_hint(api, body)).status_code == 202
    expired = [
        e for e in await stream_events(redis, keys) if e["type"] == "deposit_address.expired"
    ]
    assert len(expired) == 1
    assert expired[0]["data"] == {
        "customerId": customer,
        "purse": {"id": "p-9", "address": address, "currencies": None, "createdDate": None},
    }


async def test_a_hint_about_an_unknown_customer_starts_watching_it(
    api: httpx.AsyncClient, worker: Worker, redis: RedisClient
) -> None:
    customer = "0f2b7a0e-6c55-4a55-9d4e-7a9c3f1c2b10"
    body = hint(customer)
    assert (await send_signed_hint(api, body)).status_code == 202
    assert (await api.get(f"/v1/customers/{customer}/watch")).json()["reason"] == "calypso-webhook"


async def test_malformed_hints_are_400_problems(api: httpx.AsyncClient) -> None:
    for body in (b"not json", b"[]", b'{"id": 1}', hint("not-a-uuid")):
        answer = await send_signed_hint(api, body)
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"


async def test_without_a_configured_secret_the_endpoint_is_off(
    redis_url: str, sandbox: RunningServer, redis: RedisClient
) -> None:
    app = create_app(make_settings(redis_url, sandbox.url), retry=FAST_RETRY)
    async with AsyncTestClient(app=app) as client:
        body = hint("0f2b7a0e-6c55-4a55-9d4e-7a9c3f1c2b10")
        assert (await send_signed_hint(client, body)).status_code == 404


async def test_a_hint_is_not_a_source_of_state(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    """A hint claiming funds arrived produces only what Calypso itself reports."""
    customer, address = await new_customer_with_address(api)
    await deposit(sandbox_control, address, "5")
    body = hint(customer, "CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE", amount=999)
    await send_signed_hint(api, body)
    await worker.drain()
    types = [e["type"] for e in await stream_events(redis, keys)]
    assert types.count("transaction.mem_pool_found") == 1
    assert "transaction.confirmed" not in types


async def test_the_running_poll_loop_records_a_deposit_and_takes_wake_ups(
    api: httpx.AsyncClient,
    workers: WorkerFactory,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    """The production loop (claim, BLPOP on the wake list, complete), not drain()."""
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "4.2")
    workers.start(worker.polls.run)
    events = await eventually(lambda: transaction_events(redis, keys, tx), within=5)
    assert [e["type"] for e in events] == ["transaction.mem_pool_found"]
    assert (await send_signed_hint(api, hint(customer))).status_code == 202

    async def wake_list_empty() -> bool:
        return int(await redis.llen(keys.poll_wake)) == 0

    # The hint pushed onto the wake list; the loop's BLPOP takes it off again.
    await eventually(wake_list_empty, within=5)
