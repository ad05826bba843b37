"""``/sandbox/requests`` tells which customer each Calypso call was about, and when.

It exists for tests that count polls per customer, so it must log exactly what the counters
count (faults and refusals included, with their status) and forget together with them.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from bridge.sandbox.requestlog import RequestFilter, RequestLog, RequestSubject
from tests.sandbox.wire import (
    call,
    deposit,
    envelope,
    eth_deposit,
    new_customer,
    new_purse,
    now_ms,
    ok,
    search,
    send,
)
from tests.support.waiting import eventually


async def logged(client: httpx.AsyncClient, **query: str | int) -> list[dict[str, Any]]:
    response = await client.get("/sandbox/requests", params=query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def poll(client: httpx.AsyncClient, customer_id: str, times: int = 1) -> None:
    for _ in range(times):
        await ok(client, "transaction/find", search(customer_id))


async def test_each_call_is_logged_with_its_endpoint_status_time_and_subject(
    client: httpx.AsyncClient,
) -> None:
    started = now_ms()
    transaction = await eth_deposit(client)  # customer/create, then address/get
    customer_id = transaction["customerId"]
    await ok(client, "transaction/get", {"transactionId": transaction["id"]})
    await ok(client, "customer/update", {"id": customer_id, "description": "vip"})
    await poll(client, customer_id)

    items = await logged(client)

    assert [{k: v for k, v in item.items() if k != "at"} for item in items] == [
        {"endpoint": "customer.create", "status": 200, "customerId": None, "transactionId": None},
        {
            "endpoint": "address.get",
            "status": 200,
            "customerId": customer_id,
            "transactionId": None,
        },
        {
            "endpoint": "transaction.get",
            "status": 200,
            "customerId": customer_id,
            "transactionId": transaction["id"],
        },
        {
            "endpoint": "customer.update",
            "status": 200,
            "customerId": customer_id,
            "transactionId": None,
        },
        {
            "endpoint": "transaction.find",
            "status": 200,
            "customerId": customer_id,
            "transactionId": None,
        },
    ]
    times = [item["at"] for item in items]
    assert times == sorted(times)
    assert started <= times[0] <= times[-1] <= now_ms()


async def test_the_log_filters_by_endpoint_and_customer(client: httpx.AsyncClient) -> None:
    first = (await new_customer(client))["id"]
    second = (await new_customer(client))["id"]
    await poll(client, first, times=3)
    await poll(client, second)
    await ok(client, "customer/get", {"customerId": first})

    polls_of_first = await logged(client, endpoint="transaction.find", customerId=first)
    all_of_first = await logged(client, customerId=first.upper())
    every_find = await logged(client, endpoint="transaction.find")

    assert len(polls_of_first) == 3
    assert {item["customerId"] for item in polls_of_first} == {first}
    assert [item["endpoint"] for item in all_of_first] == ["transaction.find"] * 3 + [
        "customer.get"
    ]
    assert [item["customerId"] for item in every_find] == [first] * 3 + [second]


async def test_the_log_filters_by_since_in_unix_milliseconds(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    await poll(client, customer_id, times=2)
    before = now_ms()
    # "since" a millisecond the earlier requests cannot share: the clock's next one.
    since = await eventually(lambda: (now := now_ms()) > before and now, what="the next ms")

    await poll(client, customer_id)

    recent = await logged(client, customerId=customer_id, since=since)
    assert len(recent) == 1
    assert recent[0]["at"] >= since
    assert len(await logged(client, customerId=customer_id)) == 3


async def test_faulted_and_refused_calls_are_logged_with_the_status_they_got(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]
    await client.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 503, "endpoints": ["transaction.find"]},
    )
    faulted = await call(client, "transaction/find", search(customer_id))
    refused = await send(client, "transaction/find", envelope(search(customer_id)), sign="0" * 128)
    stranger = str(uuid.uuid4())
    unknown = await call(client, "transaction/find", search(stranger))

    polls = await logged(client, endpoint="transaction.find")

    assert (faulted.status_code, refused.status_code, unknown.status_code) == (503, 400, 400)
    assert [(item["status"], item["customerId"]) for item in polls] == [
        (503, customer_id),
        (400, customer_id),
        (400, stranger),
    ]
    counters = (await client.get("/sandbox/counters")).json()
    assert counters["total"] == len(await logged(client))


async def test_control_endpoints_are_not_logged(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    await new_purse(client, customer_id, "ETH")
    await deposit(client, customerId=customer_id, currency="ETH", amount="1")
    await client.get("/sandbox/counters")

    assert [item["endpoint"] for item in await logged(client)] == [
        "customer.create",
        "address.get",
    ]


@pytest.mark.parametrize(
    "clear",
    [
        pytest.param(("DELETE", "/sandbox/counters"), id="delete-counters"),
        pytest.param(("DELETE", "/sandbox/requests"), id="delete-requests"),
        pytest.param(("POST", "/sandbox/reset"), id="reset"),
    ],
)
async def test_the_log_is_cleared_with_the_counters_on_its_own_and_by_reset(
    client: httpx.AsyncClient, clear: tuple[str, str]
) -> None:
    customer_id = (await new_customer(client))["id"]
    await poll(client, customer_id)

    response = await client.request(*clear)

    assert response.status_code == 204
    assert await logged(client) == []
    await new_customer(client)
    assert len(await logged(client)) == 1


@pytest.mark.parametrize(
    "query",
    [
        {"endpoint": "transaction/find"},
        {"customerId": "someone"},
        {"since": "yesterday"},
        {"since": "nan"},
        {"customer": str(uuid.uuid4())},
    ],
)
async def test_a_bad_query_is_refused_with_400_naming_the_problem(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    response = await client.get("/sandbox/requests", params=query)

    assert response.status_code == 400
    assert next(iter(query)) in response.json()["error"]


def test_the_log_keeps_only_the_newest_entries() -> None:
    log = RequestLog(max_entries=3)
    for at in range(5):
        log.record(at=at, endpoint="customer.get", status=200, subject=RequestSubject())

    assert len(log) == 3
    assert [entry.at for entry in log.find(RequestFilter())] == [2, 3, 4]
