"""``/v1/customers``: creation is idempotent by externalId and by Idempotency-Key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import make_settings
from tests.support.redis_modes import both_redis_modes

pytestmark = both_redis_modes

Client = AsyncTestClient[Any]


async def test_create_returns_201_and_watches_the_customer(
    api: Client, redis: RedisClient, keys: Keys
) -> None:
    answer = await api.post(
        "/v1/customers", json={"email": "ada@example.com", "description": "vip"}
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["email"] == "ada@example.com"
    assert body["blocked"] is False
    watch = await api.get(f"/v1/customers/{body['id']}/watch")
    assert watch.json()["watched"] is True
    assert await redis.zscore(keys.poll_schedule, body["id"]) is not None


async def test_same_external_id_returns_the_existing_customer_with_200(api: Client) -> None:
    first = await api.post("/v1/customers", json={"externalId": "user-1"})
    second = await api.post("/v1/customers", json={"externalId": "user-1", "email": "x@y.io"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    found = await api.get("/v1/customers", params={"externalId": "user-1"})
    assert [c["id"] for c in found.json()["items"]] == [first.json()["id"]]


async def test_concurrent_creates_with_one_external_id_make_one_customer(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    # Slow the upstream so the requests really overlap.
    await sandbox_control.put("/sandbox/faults", json={"latencyMs": 50})
    answers = await asyncio.gather(
        *(api.post("/v1/customers", json={"externalId": "racy"}) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    found = await api.get("/v1/customers", params={"externalId": "racy"})
    assert len(found.json()["items"]) == 1


async def test_idempotency_key_replays_the_first_response(api: Client) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await api.post("/v1/customers", json={"email": "a@b.io"}, headers=headers)
    again = await api.post("/v1/customers", json={"email": "a@b.io"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


async def test_idempotency_key_reused_for_another_body_is_refused(api: Client) -> None:
    headers = {"Idempotency-Key": "key-2"}
    assert (await api.post("/v1/customers", json={}, headers=headers)).status_code == 201
    other = await api.post("/v1/customers", json={"email": "c@d.io"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.headers["content-type"] == "application/problem+json"


async def test_idempotency_keys_belong_to_the_caller_token(api: Client, settings: Any) -> None:
    """Two callers using the same key do not see each other's responses."""
    two_tokens = make_settings(
        settings.redis_url,
        settings.calypso_base_url,
        BRIDGE_API_TOKENS="token-one-123,token-two-456",
    )
    async with AsyncTestClient(app=create_app(two_tokens)) as client:
        one = await client.post(
            "/v1/customers",
            json={},
            headers={"Authorization": "Bearer token-one-123", "Idempotency-Key": "k"},
        )
        two = await client.post(
            "/v1/customers",
            json={},
            headers={"Authorization": "Bearer token-two-456", "Idempotency-Key": "k"},
        )
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["id"] != two.json()["id"]


async def test_a_failed_create_frees_its_idempotency_key_for_the_retry(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 500, "endpoints": ["customer.create"]},
    )
    headers = {"Idempotency-Key": "key-3"}
    failed = await api.post("/v1/customers", json={}, headers=headers)
    assert failed.status_code == 502
    assert failed.json()["code"] == "upstream_unavailable"
    retried = await api.post("/v1/customers", json={}, headers=headers)
    assert retried.status_code == 201


async def test_get_patch_block_and_unblock(api: Client) -> None:
    customer = (await api.post("/v1/customers", json={"email": "old@x.io"})).json()
    path = f"/v1/customers/{customer['id']}"
    assert (await api.get(path)).json() == customer

    patched = await api.patch(path, json={"email": "new@x.io", "description": "d"})
    assert patched.status_code == 200
    assert (patched.json()["email"], patched.json()["description"]) == ("new@x.io", "d")

    blocked = await api.post(f"{path}/block")
    assert (blocked.status_code, blocked.json()["blocked"]) == (200, True)
    unblocked = await api.post(f"{path}/unblock")
    assert (unblocked.status_code, unblocked.json()["blocked"]) == (200, False)


async def test_unknown_customer_is_a_404_problem_with_calypso_trace_id(api: Client) -> None:
    answer = await api.get("/v1/customers/6f1c1c52-86f4-4a8e-9d49-0d7c5f0f2b11")
    assert answer.status_code == 404
    problem = answer.json()
    assert problem["code"] == "not_found"
    assert problem["calypsoErrorCode"] == "004"
    assert problem["traceId"]
    assert answer.headers["content-type"] == "application/problem+json"
