"""The clients' retries, idempotency keys and problems, against a scripted transport (pure
HTTP behaviour; the real bridge is in test_client_api.py)."""

from __future__ import annotations

import json

import httpx
import pytest

from bridge.client import (
    AsyncBridgeClient,
    BridgeClient,
    BridgeProblem,
    Conflict,
    NotFound,
    RetryPolicy,
    Unavailable,
)

CUSTOMER = {"id": "c1", "blocked": False}


def problem(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/problem+json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body = {"type": "x", "title": code.replace("_", " "), "status": status, "code": code}
    return httpx.Response(status, headers=headers, json=body)


class Script:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)


def blocking(script: Script, slept: list[float], **kw: object) -> BridgeClient:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return BridgeClient("http://bridge", "tok", http=http, sleep=slept.append, **kw)  # type: ignore[arg-type]


def test_a_503_is_retried_after_its_retry_after_with_the_same_idempotency_key() -> None:
    script = Script(problem(503, "storage_unavailable", "2"), httpx.Response(201, json=CUSTOMER))
    slept: list[float] = []
    with blocking(script, slept) as client:
        customer = client.create_customer(external_id="e1")
    assert customer.id == "c1"
    assert slept == [2.0]
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert keys[0]
    assert json.loads(script.requests[0].content) == {"externalId": "e1"}


def test_the_callers_idempotency_key_is_sent_and_a_409_in_flight_is_retried() -> None:
    script = Script(problem(409, "idempotency_in_flight", "1"), httpx.Response(200, json=CUSTOMER))
    slept: list[float] = []
    with blocking(script, slept) as client:
        client.create_customer(idempotency_key="k-1")
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["k-1", "k-1"]
    assert slept == [1.0]


def test_every_create_gets_its_own_generated_key() -> None:
    script = Script(httpx.Response(201, json=CUSTOMER), httpx.Response(201, json=CUSTOMER))
    with blocking(script, []) as client:
        client.create_customer()
        client.create_customer()
    first, second = (r.headers["Idempotency-Key"] for r in script.requests)
    assert first != second


def test_retries_are_bounded_and_retry_after_is_capped() -> None:
    script = Script(*(problem(503, "storage_unavailable", "3600") for _ in range(3)))
    slept: list[float] = []
    with (
        blocking(script, slept, retry=RetryPolicy(attempts=3, max_delay=5)) as client,
        pytest.raises(Unavailable) as raised,
    ):
        client.get_customer("c1")
    assert slept == [5, 5]
    assert raised.value.code == "storage_unavailable"
    assert raised.value.retry_after == 3600


def test_another_conflict_is_raised_at_once() -> None:
    script = Script(problem(409, "subscription_disabled"))
    with blocking(script, []) as client, pytest.raises(Conflict) as raised:
        client.send_test("sub_x")
    assert raised.value.code == "subscription_disabled"
    assert len(script.requests) == 1


def test_a_problem_is_typed_by_status_and_keeps_code_title_detail() -> None:
    script = Script(problem(404, "not_found"), httpx.Response(500, text="<html>oops"))
    with blocking(script, []) as client:
        with pytest.raises(NotFound) as raised:
            client.get_customer("nobody/../x")
        assert raised.value.status == 404
        assert raised.value.title == "not found"
        with pytest.raises(BridgeProblem) as other:
            client.get_customer("c")
    assert other.value.status == 500
    assert other.value.code == "http_500"
    assert script.requests[0].url.raw_path == b"/v1/customers/nobody%2F..%2Fx"


def test_headers_carry_the_token_and_the_account() -> None:
    script = Script(httpx.Response(200, json=CUSTOMER))
    with blocking(script, [], account="0xabc") as client:
        client.get_customer("c1")
    sent = script.requests[0].headers
    assert sent["Authorization"] == "Bearer tok"
    assert sent["Calypso-Account"] == "0xabc"


async def test_the_async_client_walks_cursor_pages() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        items = [{"id": f"a{cursor or 0}", "at": "t", "action": "replay", "token": "ops"}]
        return httpx.Response(200, json={"items": items, "nextCursor": None if cursor else "1"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(page))
    async with AsyncBridgeClient("http://bridge", "tok", http=http) as client:
        ids = [entry.id async for entry in client.iter_audit(limit=1)]
    assert ids == ["a0", "a1"]
