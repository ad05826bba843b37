"""``/v1/events``: cursor paging, filters and one event by id."""

from __future__ import annotations

from typing import Any

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.reading import stream_entries
from tests.support.redis_modes import both_redis_modes
from tests.support.steps import new_customer_with_address

pytestmark = both_redis_modes


async def make_history(api: Any) -> tuple[str, str]:
    first, _ = await new_customer_with_address(api, "BTC")
    second, _ = await new_customer_with_address(api, "ETH")
    for customer in (first, second):
        await api.post(f"/v1/customers/{customer}/block")
    return first, second


async def test_pages_newest_first_and_back_to_the_start(api: Any) -> None:
    await make_history(api)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/events", params=params)).json()
        seen += page["items"]
        cursor = page["nextCursor"]
        if not page["items"] or cursor is None:
            break
    assert [e["type"] for e in seen] == [
        "customer.blocked",
        "customer.blocked",
        "deposit_address.issued",
        "customer.created",
        "deposit_address.issued",
        "customer.created",
    ]
    ascending = (await api.get("/v1/events", params={"order": "asc", "limit": 100})).json()
    assert [e["id"] for e in ascending["items"]] == [e["id"] for e in reversed(seen)]
    assert ascending["nextCursor"] is None


async def test_filters_by_type_and_customer(api: Any) -> None:
    first, second = await make_history(api)
    only_created = await api.get("/v1/events", params={"type": "customer.created"})
    assert {e["data"]["customerId"] for e in only_created.json()["items"]} == {first, second}
    two_types = await api.get(
        "/v1/events", params=[("type", "customer.created"), ("type", "customer.blocked")]
    )
    assert len(two_types.json()["items"]) == 4
    mine = await api.get("/v1/events", params={"customerId": second, "order": "asc"})
    assert [e["type"] for e in mine.json()["items"]] == [
        "customer.created",
        "deposit_address.issued",
        "customer.blocked",
    ]


async def test_one_event_by_id_and_404_for_unknown(api: Any) -> None:
    await make_history(api)
    newest = (await api.get("/v1/events", params={"limit": 1})).json()["items"][0]
    one = await api.get(f"/v1/events/{newest['id']}")
    assert one.status_code == 200
    assert one.json() == newest
    missing = await api.get("/v1/events/evt_aaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert (await api.get("/v1/events/not-an-id")).status_code == 400


async def test_an_event_read_through_the_api_is_the_body_its_webhooks_carry(
    api: Any, redis: RedisClient, keys: Keys
) -> None:
    await make_history(api)
    for _, fields in await stream_entries(redis, keys.events):
        one = await api.get(f"/v1/events/{fields[b'id'].decode()}")
        assert one.content == fields[b"event"]


async def test_bad_paging_parameters_are_400(api: Any) -> None:
    for params in (
        {"limit": 0},
        {"limit": 501},
        {"cursor": "x"},
        {"type": "nope"},
        {"customerId": "x"},
        {"order": "up"},
    ):
        answer = await api.get("/v1/events", params=params)
        assert answer.status_code == 400, params
        assert answer.headers["content-type"] == "application/problem+json"
