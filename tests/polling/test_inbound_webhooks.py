"""Inbound Calypso webhooks are verified hints: they trigger a poll and never carry state."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from bridge.api.app import create_app
from bridge.calypso.signing import sign
from bridge.config import Settings
from bridge.worker import Worker
from tests.conftest import FAST_RETRY, make_settings
from tests.polling.conftest import deposit, new_customer_with_address, stream_events
from tests.support.sandbox_server import RunningServer

SECRET = "inbound-secret"


def webhook(customer: str, event_type: str = "CUSTOMER_PURSE_MEM_POOL_FOUND", **data: Any) -> bytes:
    return json.dumps(
        {
            "requestId": "3b0c0a56-8a0a-4d43-a6f5-0a8b2a8b0c11",
            "id": data.pop("webhook_id", 101),
            "createdDate": "2026-11-26T17:40:01.123",
            "level": "INFO",
            "service": "CUSTOMER_PURSE",
            "eventType": event_type,
            "data": {"customerId": customer, "customerBlocked": False, **data},
        }
    ).encode()


async def send(client: Any, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Key": "calypso-key"}
    if signature is not None:
        headers["Sign"] = signature
    response: httpx.Response = await client.post(
        "/v1/calypso/webhooks", content=body, headers=headers
    )
    return response


async def due_at(redis: Redis, worker: Worker, customer: str) -> float | None:
    score = await redis.zscore(worker.keys.poll_schedule, customer)
    return None if score is None else float(score)


async def test_a_signed_hint_makes_the_customer_due_now(
    api: Any, worker: Worker, redis: Redis
) -> None:
    customer, _ = await new_customer_with_address(api)
    await worker.drain()
    assert (await due_at(redis, worker, customer) or 0) > time.time() * 1000
    body = webhook(customer)
    answer = await send(api, body, sign(body, SECRET))
    assert answer.status_code == 202
    assert answer.json() == {"status": "accepted", "customerId": customer}
    assert (await due_at(redis, worker, customer) or 0) <= time.time() * 1000


async def test_bad_or_missing_signatures_get_401_and_change_nothing(
    api: Any, worker: Worker, redis: Redis
) -> None:
    customer, _ = await new_customer_with_address(api)
    await worker.drain()
    due = await due_at(redis, worker, customer)
    entries = await redis.xlen(worker.keys.events)
    body = webhook(customer, "CUSTOMER_PURSE_EXPIRED", purseId="p-1", address="x")
    for signature in (None, "", "00" * 64, sign(body, "wrong-secret"), sign(body + b" ", SECRET)):
        answer = await send(api, body, signature)
        assert answer.status_code == 401
        assert answer.json()["code"] == "bad_signature"
    assert await due_at(redis, worker, customer) == due
    assert await redis.xlen(worker.keys.events) == entries


async def test_a_repeated_webhook_id_is_recognised(api: Any, worker: Worker) -> None:
    customer, _ = await new_customer_with_address(api)
    body = webhook(customer, webhook_id=7)
    first = await send(api, body, sign(body, SECRET))
    again = await send(api, body, sign(body, SECRET))
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate"


async def test_purse_expiry_becomes_deposit_address_expired_once(
    api: Any, redis: Redis, poll_settings: Settings
) -> None:
    customer, address = await new_customer_with_address(api)
    for webhook_id in (1, 2):  # Calypso may send the same fact under two ids
        body = webhook(
            customer,
            "CUSTOMER_PURSE_EXPIRED",
            webhook_id=webhook_id,
            purseId="p-9",
            address=address,
        )
        assert (await send(api, body, sign(body, SECRET))).status_code == 202
    expired = [
        e
        for e in await stream_events(redis, poll_settings)
        if e["type"] == "deposit_address.expired"
    ]
    assert len(expired) == 1
    assert expired[0]["data"] == {
        "customerId": customer,
        "purse": {"id": "p-9", "address": address, "currencies": None, "createdDate": None},
    }


async def test_a_hint_about_an_unknown_customer_starts_watching_it(
    api: Any, worker: Worker, redis: Redis
) -> None:
    customer = "0f2b7a0e-6c55-4a55-9d4e-7a9c3f1c2b10"
    body = webhook(customer)
    assert (await send(api, body, sign(body, SECRET))).status_code == 202
    assert (await api.get(f"/v1/customers/{customer}/watch")).json()["reason"] == "calypso-webhook"


async def test_malformed_hints_are_400_problems(api: Any) -> None:
    for body in (b"not json", b"[]", b'{"id": 1}', webhook("not-a-uuid")):
        answer = await send(api, body, sign(body, SECRET))
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"


async def test_without_a_configured_secret_the_endpoint_is_off(
    redis_url: str, sandbox: RunningServer, redis: Redis
) -> None:
    app = create_app(make_settings(redis_url, sandbox.url), retry=FAST_RETRY)
    async with AsyncTestClient(app=app) as client:
        body = webhook("0f2b7a0e-6c55-4a55-9d4e-7a9c3f1c2b10")
        assert (await send(client, body, sign(body, SECRET))).status_code == 404


async def test_a_hint_is_not_a_source_of_state(
    api: Any,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: Redis,
    poll_settings: Settings,
) -> None:
    """A hint claiming funds arrived produces only what Calypso itself reports."""
    customer, address = await new_customer_with_address(api)
    await deposit(sandbox_control, address, "5")
    body = webhook(customer, "CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE", amount=999)
    await send(api, body, sign(body, SECRET))
    await worker.drain()
    types = [e["type"] for e in await stream_events(redis, poll_settings)]
    assert types.count("transaction.mem_pool_found") == 1
    assert "transaction.confirmed" not in types
