"""``GET /v1/event-types``: the catalog over HTTP, and its refusals as problem documents."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from bridge.events.model import EventType

Api = Any


async def test_the_list_has_every_type_with_description_schema_and_example(api: Api) -> None:
    answer = await api.get("/v1/event-types")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [item["type"] for item in items] == [kind.value for kind in EventType]
    for item in items:
        assert item["description"]
        Draft202012Validator(item["schema"]).validate(item["example"])


async def test_one_type_is_its_catalog_entry(api: Api) -> None:
    answer = await api.get("/v1/event-types/transaction.credited")
    assert answer.status_code == 200, answer.text
    assert answer.json()["type"] == "transaction.credited"
    assert answer.json()["example"]["data"]["transaction"]["translationToAccountCompleted"]


async def test_an_unknown_type_is_a_404_problem(api: Api) -> None:
    answer = await api.get("/v1/event-types/transaction.refunded")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "not_found"


async def test_a_malformed_type_is_a_400_problem(api: Api) -> None:
    answer = await api.get("/v1/event-types/NOT%20A%20TYPE")
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_request"


async def test_the_catalog_needs_a_token(api: Api) -> None:
    answer = await api.get("/v1/event-types", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
