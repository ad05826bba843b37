"""Every /v1 operation of the committed OpenAPI document refuses a token without its scope
and a token of another account: 403 each time, and nothing changes in Redis or upstream."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.config import Settings
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.tokens import SCOPES
from tests.support.config import FAST_RETRY, TOKEN
from tests.support.receiver import WebhookReceiver
from tests.support.redis_snapshot import redis_snapshot
from tests.support.tokens import OTHER_ACCOUNT, grant, lacking, with_tokens

DOCUMENT = Path(__file__).parents[2] / "openapi-out" / "openapi.json"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ELSEWHERE = {"Authorization": "Bearer elsewhere-token"}
METHODS = ("get", "put", "post", "patch", "delete")
# Bodies that would succeed, so a guard that let one through would change something.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/customers"): {"email": "walker@example.com"},
    ("patch", "/v1/customers/{customer_id}"): {"description": "changed"},
    ("post", "/v1/customers/{customer_id}/addresses"): {"currency": "USDT"},
    ("patch", "/v1/subscriptions/{subscription_id}"): {"description": "changed"},
    ("post", "/v1/subscriptions/{subscription_id}/replay"): {"since": "2000-01-01T00:00:00Z"},
}


def operations() -> list[tuple[str, str, str]]:
    """(method, path template, scope) of every bearer-guarded /v1 operation."""
    paths = json.loads(DOCUMENT.read_text())["paths"]
    found = []
    for path, item in paths.items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None or not path.startswith("/v1/"):
                continue
            if path.startswith("/v1/calypso/"):
                assert "security" not in operation, "inbound webhooks carry Calypso's signature"
                continue
            ((scope,),) = (req["bearer"] for req in operation["security"])
            found.append((method, path, scope))
    return found


def lacks(scope: str) -> str:
    return "lacks-" + scope.replace(":", ".")


@pytest.fixture
async def client(
    settings: Settings, redis: RedisClient
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    scoped = with_tokens(
        settings,
        *(grant(lacks(scope), lacking(scope)) for scope in SCOPES),
        grant("elsewhere", SCOPES, [OTHER_ACCOUNT]),
    )
    async with AsyncTestClient(app=create_app(scoped, retry=FAST_RETRY)) as test_client:
        yield test_client


async def upstream_state(control: httpx.AsyncClient) -> tuple[Any, Any]:
    requests = (await control.get("/sandbox/requests")).json()
    counters = (await control.get("/sandbox/counters")).json()
    return requests, counters


def test_the_walk_covers_every_route_of_the_api() -> None:
    walked = operations()
    assert len(walked) >= 27
    assert {scope for _, _, scope in walked} == set(SCOPES)


async def test_every_operation_refuses_a_token_without_its_scope_or_of_another_account(
    client: AsyncTestClient[Litestar],
    redis: RedisClient,
    keys: Keys,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
) -> None:
    customer = await client.post("/v1/customers", json={"email": "c@example.com"}, headers=ADMIN)
    subscription = await client.post("/v1/subscriptions", json={"url": receiver.url}, headers=ADMIN)
    events = await client.get("/v1/events", headers=ADMIN)
    ids = {
        "customer_id": customer.json()["id"],
        "subscription_id": subscription.json()["id"],
        "event_id": events.json()["items"][0]["id"],
        "type_name": "ping",
        "transaction_id": str(uuid.uuid4()),
    }
    redis_before = await redis_snapshot(redis)
    upstream_before = await upstream_state(sandbox_control)
    refused = 0
    for method, template, scope in operations():
        path = template.format(**ids)
        body = BODIES.get((method, template))
        for headers, code in (
            ({"Authorization": f"Bearer {lacks(scope)}-token"}, "insufficient_scope"),
            (ELSEWHERE, "account_forbidden"),
        ):
            answer = await client.request(method.upper(), path, json=body, headers=headers)
            assert answer.status_code == 403, (method, path, code, answer.text)
            assert answer.json()["code"] == code, (method, path)
            refused += 1
    assert refused == 2 * len(operations())
    redis_after = await redis_snapshot(redis)
    # The upstream rate limiter's slot key expires a second after the set-up's last call:
    # gone by itself is not changed.
    if keys.upstream_rate.encode() not in redis_after:
        redis_before.pop(keys.upstream_rate.encode(), None)
    assert redis_after == redis_before
    assert await upstream_state(sandbox_control) == upstream_before
