"""Calypso's webhooks arrive per account at ``/v1/calypso/webhooks/{account}``, each checked
with that account's own webhook secret."""

from __future__ import annotations

import uuid

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.calypso.signing import sign
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.api.test_errors import assert_problem
from tests.support.accounts import AccountSetup
from tests.support.config import ACCOUNT, INBOUND_SECRET
from tests.support.hints import hint

Client = AsyncTestClient[Litestar]
UNKNOWN = "0x" + "9f" * 20


async def post_hint(api: Client, path: str, body: bytes, secret: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Sign": sign(body, secret)}
    return await api.post(path, content=body, headers=headers)


async def watched(redis: RedisClient, account: str, customer: str) -> bool:
    return bool(await redis.hexists(Keys("bridge", account).watched, customer))


async def test_a_webhook_for_one_account_watches_the_customer_in_that_account_only(
    two_api: Client, redis: RedisClient, accounts: tuple[AccountSetup, AccountSetup]
) -> None:
    a, b = accounts
    customer = str(uuid.uuid4())
    body = hint(customer)
    answer = await post_hint(two_api, f"/v1/calypso/webhooks/{b.id}", body, b.webhook_secret)
    assert answer.status_code == 202, answer.text
    assert await watched(redis, b.id, customer)
    assert not await watched(redis, a.id, customer)
    # The id in any case names the same account; the webhook id was seen in B already.
    again = await post_hint(
        two_api, f"/v1/calypso/webhooks/0x{b.id[2:].upper()}", body, b.webhook_secret
    )
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"


async def test_another_account_s_secret_does_not_sign_for_this_one(
    two_api: Client, redis: RedisClient, accounts: tuple[AccountSetup, AccountSetup]
) -> None:
    a, b = accounts
    customer = str(uuid.uuid4())
    answer = await post_hint(
        two_api, f"/v1/calypso/webhooks/{b.id}", hint(customer), a.webhook_secret
    )
    assert assert_problem(answer, 401)["code"] == "bad_signature"
    assert not await watched(redis, b.id, customer)
    assert not await watched(redis, a.id, customer)


async def test_an_account_the_bridge_does_not_serve_is_404_even_a_malformed_one(
    two_api: Client, redis: RedisClient
) -> None:
    body = hint(str(uuid.uuid4()))
    unknown = await post_hint(two_api, f"/v1/calypso/webhooks/{UNKNOWN}", body, INBOUND_SECRET)
    assert assert_problem(unknown, 404)["code"] == "account_not_found"
    malformed = await post_hint(two_api, "/v1/calypso/webhooks/0x12", body, INBOUND_SECRET)
    assert assert_problem(malformed, 404)["code"] == "account_not_found"
    assert await redis.dbsize() == 0


async def test_the_path_without_an_account_is_refused_when_there_are_several(
    two_api: Client, redis: RedisClient
) -> None:
    body = hint(str(uuid.uuid4()))
    answer = await post_hint(two_api, "/v1/calypso/webhooks", body, INBOUND_SECRET)
    problem = assert_problem(answer, 400)
    assert problem["code"] == "account_required"
    assert "/v1/calypso/webhooks/{account}" in problem["detail"]
    assert await redis.dbsize() == 0


async def test_one_account_takes_webhooks_at_both_paths(api: Client, redis: RedisClient) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    old = await post_hint(api, "/v1/calypso/webhooks", hint(first), INBOUND_SECRET)
    assert old.status_code == 202, old.text
    body = hint(second, webhook_id=102)
    new = await post_hint(api, f"/v1/calypso/webhooks/{ACCOUNT}", body, INBOUND_SECRET)
    assert new.status_code == 202, new.text
    assert await watched(redis, ACCOUNT, first)
    assert await watched(redis, ACCOUNT, second)
    unknown = await post_hint(api, f"/v1/calypso/webhooks/{UNKNOWN}", body, INBOUND_SECRET)
    assert assert_problem(unknown, 404)["code"] == "account_not_found"


async def test_a_token_of_several_accounts_names_one_and_acts_on_that_one_only(
    two_api: Client, redis: RedisClient, accounts: tuple[AccountSetup, AccountSetup]
) -> None:
    a, b = accounts
    body = {"externalId": f"user-{uuid.uuid4()}"}
    unnamed = await two_api.post("/v1/customers", json=body)
    assert assert_problem(unnamed, 400)["code"] == "account_required"
    unserved = await two_api.post("/v1/customers", json=body, headers={"Calypso-Account": UNKNOWN})
    assert assert_problem(unserved, 403)["code"] == "account_forbidden"
    named = {"Calypso-Account": f"0x{b.id[2:].upper()}"}  # any case names the same account
    created = await two_api.post("/v1/customers", json=body, headers=named)
    assert created.status_code == 201, created.text
    customer = created.json()["id"]
    assert await watched(redis, b.id, customer)
    assert not await watched(redis, a.id, customer)
    elsewhere = await two_api.get(f"/v1/customers/{customer}", headers={"Calypso-Account": a.id})
    assert elsewhere.status_code == 404  # account A's Calypso has no such customer
    here = await two_api.get(f"/v1/customers/{customer}", headers=named)
    assert here.status_code == 200, here.text
