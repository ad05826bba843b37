"""Owned subscriptions and the audit trail: a token without ``admin`` sees and changes only
the subscriptions it made, and every change is on the record (DESIGN §10)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.config import Settings
from bridge.delivery.sealed_secrets import SealedSecrets
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import FAST_RETRY
from tests.support.receiver import WebhookReceiver
from tests.support.tokens import grant, with_tokens

WRITER = ("subscriptions:read", "subscriptions:write")
ALICE = {"Authorization": "Bearer alice-token"}
BOB = {"Authorization": "Bearer bob-token"}
OPS = {"Authorization": "Bearer ops-token"}


@pytest.fixture
async def client(
    settings: Settings, redis: RedisClient
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    scoped = with_tokens(
        settings, grant("alice", WRITER), grant("bob", WRITER), grant("ops", ["admin"])
    )
    async with AsyncTestClient(app=create_app(scoped, retry=FAST_RETRY)) as test_client:
        yield test_client


async def subscribe(
    client: AsyncTestClient[Litestar], headers: dict[str, str], url: str
) -> dict[str, Any]:
    created = await client.post("/v1/subscriptions", json={"url": url}, headers=headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def changes(subscription_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/v1/subscriptions/{subscription_id}"
    return [
        ("GET", base, None),
        ("PATCH", base, {"description": "mine now"}),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/dead-letters", None),
        ("POST", f"{base}/replay", {"since": "2000-01-01T00:00:00Z"}),
        ("POST", f"{base}/test", None),
        ("POST", f"{base}/rotate-secret", None),
        ("DELETE", base, None),
    ]


async def test_a_subscription_records_its_owner_and_shows_it(
    client: AsyncTestClient[Litestar], receiver: WebhookReceiver
) -> None:
    made = await subscribe(client, ALICE, receiver.url)
    assert made["owner"] == "alice"
    shown = await client.get(f"/v1/subscriptions/{made['id']}", headers=ALICE)
    assert shown.json()["owner"] == "alice"


async def test_another_tokens_subscription_answers_404_like_a_missing_one(
    client: AsyncTestClient[Litestar], receiver: WebhookReceiver
) -> None:
    alices = await subscribe(client, ALICE, receiver.url)
    bobs = await subscribe(client, BOB, receiver.url)
    listed = await client.get("/v1/subscriptions", headers=BOB)
    assert [s["id"] for s in listed.json()["items"]] == [bobs["id"]]
    missing = "sub_" + "a" * 24
    for (method, path, body), (_, unknown, _) in zip(
        changes(alices["id"]), changes(missing), strict=True
    ):
        theirs = await client.request(method, path, json=body, headers=BOB)
        nobody = await client.request(method, unknown, json=body, headers=BOB)
        assert theirs.status_code == 404, (method, path)
        assert theirs.json()["title"] == nobody.json()["title"]
        assert theirs.json()["code"] == nobody.json()["code"] == "not_found"
    redeliver = await client.post(
        "/v1/events/evt_" + "a" * 26 + "/redeliver",
        json={"subscriptionId": alices["id"]},
        headers=BOB,
    )
    assert redeliver.status_code == 404
    untouched = await client.get(f"/v1/subscriptions/{alices['id']}", headers=ALICE)
    assert untouched.json()["description"] is None


async def test_an_owner_changes_its_own_and_admin_sees_every_one(
    client: AsyncTestClient[Litestar], receiver: WebhookReceiver
) -> None:
    alices = await subscribe(client, ALICE, receiver.url)
    await subscribe(client, BOB, receiver.url)
    listed = await client.get("/v1/subscriptions", headers=OPS)
    assert sorted(s["owner"] for s in listed.json()["items"]) == ["alice", "bob"]
    for method, path, body in changes(alices["id"]):
        answer = await client.request(method, path, json=body, headers=ALICE)
        assert answer.status_code < 300, (method, path, answer.text)


async def test_a_subscription_made_before_owners_is_for_admin_only(
    client: AsyncTestClient[Litestar],
    redis: RedisClient,
    keys: Keys,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    sealed = SealedSecrets(settings.secrets_keys, keys.account)
    legacy = await SubscriptionStore(redis, keys, sealed).create(receiver.url)
    assert legacy.owner is None
    assert (await client.get("/v1/subscriptions", headers=ALICE)).json()["items"] == []
    mine = await client.get(f"/v1/subscriptions/{legacy.id}", headers=ALICE)
    assert mine.status_code == 404
    seen = await client.get(f"/v1/subscriptions/{legacy.id}", headers=OPS)
    assert seen.status_code == 200
    assert seen.json()["owner"] is None


async def test_every_change_is_audited_newest_first_without_secrets(
    client: AsyncTestClient[Litestar], receiver: WebhookReceiver
) -> None:
    made = await subscribe(client, ALICE, receiver.url)
    secrets = [made["secret"]]
    for method, path, body in changes(made["id"]):
        headers = {**ALICE, "X-Request-ID": f"req-{method}-{path.rsplit('/', 1)[-1]}"}
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code < 300, answer.text
        if path.endswith("rotate-secret"):
            secrets.append(answer.json()["secret"])
    trail = await client.get("/v1/audit", headers=OPS)
    assert trail.status_code == 200
    items = trail.json()["items"]
    assert [i["action"] for i in items] == [
        "delete",
        "rotate",
        "test",
        "replay",
        "update",
        "create",
    ]
    assert {i["token"] for i in items} == {"alice"}
    assert {i["subscriptionId"] for i in items} == {made["id"]}
    assert items[0]["requestId"] == f"req-DELETE-{made['id']}"
    assert items[2]["eventId"].startswith("evt_")
    assert all(secret not in trail.text for secret in secrets)
    assert receiver.url not in trail.text


async def test_the_audit_trail_pages_with_a_cursor_and_is_for_admin_only(
    client: AsyncTestClient[Litestar], receiver: WebhookReceiver
) -> None:
    for _ in range(5):
        await subscribe(client, BOB, receiver.url)
    refused = await client.get("/v1/audit", headers=BOB)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/audit", params=params, headers=OPS)).json()
        seen += [i["subscriptionId"] for i in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    listed = (await client.get("/v1/subscriptions", headers=BOB)).json()["items"]
    assert len(seen) == 5
    assert sorted(seen) == sorted(s["id"] for s in listed)
