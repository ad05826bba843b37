"""Every failure is a 4xx/5xx problem document: never a stack trace, never a bare 500."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from tests.support.config import make_settings

Client = AsyncTestClient[Any]
SOME_ID = "3f0f3c1e-8d6a-4e0e-a3a5-6f1d3b3c2a10"


def v1_routes(app: Litestar) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        # Calypso's own webhooks authenticate with their signature instead (tested apart).
        if not route.path.startswith("/v1") or route.path.startswith("/v1/calypso/webhooks"):
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            path = route.path.replace("{customer_id:uuid}", SOME_ID)
            path = path.replace("{transaction_id:uuid}", SOME_ID)
            path = path.replace("{subscription_id:str}", "sub_" + "a" * 24)
            found.add((method, path.replace("{event_id:str}", "evt_" + "a" * 26)))
    return found


def assert_problem(answer: httpx.Response, status: int | None = None) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == answer.status_code
    assert problem["type"].endswith(problem["code"])
    assert problem["title"]
    assert "Traceback" not in answer.text
    if status is not None:
        assert answer.status_code == status, answer.text
    return problem


async def test_every_v1_route_needs_a_valid_bearer_token(settings: Settings) -> None:
    app = create_app(settings)
    routes = v1_routes(app)
    assert len(routes) == 30  # with GET /v1/audit, the event stream and the event catalog
    async with AsyncTestClient(app=app) as client:
        for method, path in sorted(routes):
            for headers in (
                {},
                {"Authorization": "Bearer wrong-token-value"},
                {"Authorization": "Basic dGVzdDp0ZXN0"},
            ):
                answer = await client.request(method, path, headers=headers, json={})
                problem = assert_problem(answer, 401)
                assert problem["code"] == "unauthorized"
                assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_health_needs_no_token(api: Client) -> None:
    del api.headers["Authorization"]
    assert (await api.get("/health/live")).json() == {"status": "ok"}
    assert (await api.get("/health/ready")).json() == {"status": "ready"}


C = f"/v1/customers/{SOME_ID}"
BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/customers", {"content": b"{not json"}),
    ("POST", "/v1/customers", {"content": b"[1, 2]"}),
    ("POST", "/v1/customers", {"json": {"email": 5}}),
    ("POST", "/v1/customers", {"json": {"unknown": "field"}}),
    ("POST", "/v1/customers", {"json": {"email": "not-an-email"}}),
    ("POST", "/v1/customers", {"json": {"description": "x" * 1001}}),
    ("POST", "/v1/customers", {"json": {"externalId": "x" * 256}}),
    ("POST", "/v1/customers", {"json": {"externalId": ""}}),
    ("POST", "/v1/customers", {"json": {}, "headers": {"Idempotency-Key": "k" * 256}}),
    ("GET", "/v1/customers", {}),
    ("GET", "/v1/customers", {"params": {"externalId": "x" * 256}}),
    ("GET", "/v1/customers/not-a-uuid", {}),
    ("PATCH", C, {"json": {"email": "nope"}}),
    ("PATCH", C, {"json": {"blocked": True}}),
    ("PATCH", C, {"content": b"\xff\xfe"}),
    ("PATCH", "/v1/customers/123", {"json": {}}),
    ("POST", "/v1/customers/123/block", {}),
    ("POST", "/v1/customers/123/unblock", {}),
    ("POST", f"{C}/addresses", {"json": {}}),
    ("POST", f"{C}/addresses", {"json": {"currency": "btc"}}),
    ("POST", f"{C}/addresses", {"json": {"currency": "B" * 21}}),
    ("POST", "/v1/customers/x/addresses", {"json": {"currency": "BTC"}}),
    ("GET", "/v1/customers/x/purses", {}),
    ("GET", f"{C}/transactions", {"params": {"pageSize": 0}}),
    ("GET", f"{C}/transactions", {"params": {"pageSize": 101}}),
    ("GET", f"{C}/transactions", {"params": {"page": 0}}),
    ("GET", f"{C}/transactions", {"params": {"page": "one"}}),
    ("GET", f"{C}/transactions", {"params": {"state": "SETTLED"}}),
    ("GET", f"{C}/transactions", {"params": {"order": "sideways"}}),
    ("GET", f"{C}/transactions", {"params": {"currency": "eth"}}),
    ("GET", "/v1/transactions/zzz", {}),
    ("PUT", "/v1/customers/zzz/watch", {}),
    ("DELETE", "/v1/customers/zzz/watch", {}),
    ("GET", "/v1/customers/zzz/watch", {}),
    ("DELETE", "/v1/customers", {}),
]


@pytest.mark.parametrize(("method", "path", "options"), BAD_REQUESTS)
async def test_bad_input_gets_a_4xx_problem(
    api: Client, method: str, path: str, options: dict[str, Any]
) -> None:
    answer = await api.request(method, path, **options)
    assert 400 <= answer.status_code < 500, answer.text
    assert_problem(answer)


async def test_validation_problems_name_the_field(api: Client) -> None:
    answer = await api.get(f"{C}/transactions", params={"pageSize": 0})
    problem = assert_problem(answer, 400)
    assert problem["code"] == "invalid_request"
    assert problem["errors"][0]["field"] == "pageSize"
    assert problem["errors"][0]["source"] == "query"


async def test_a_currency_calypso_does_not_know_is_a_422_with_its_error_code(api: Client) -> None:
    customer = (await api.post("/v1/customers", json={})).json()["id"]
    answer = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "NOPE"})
    problem = assert_problem(answer, 422)
    assert (problem["code"], problem["calypsoErrorCode"]) == ("upstream_rejected", "001")
    assert problem["traceId"]


async def test_calypso_5xx_after_retries_is_a_502(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put("/sandbox/faults", json={"failNext": 10, "failNextStatus": 500})
    problem = assert_problem(await api.get(f"/v1/customers/{SOME_ID}"), 502)
    assert problem["code"] == "upstream_unavailable"
    assert problem["calypsoErrorCode"] == "000"


async def test_calypso_rate_limit_is_a_503_with_retry_after(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put("/sandbox/faults", json={"rateLimitRate": 1.0})
    answer = await api.post("/v1/customers", json={})
    assert assert_problem(answer, 503)["code"] == "upstream_rate_limited"
    assert int(answer.headers["retry-after"]) >= 1


async def test_calypso_timeout_is_a_504(
    settings: Settings, redis: object, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put("/sandbox/faults", json={"timeoutRate": 1.0, "hangSeconds": 3})
    impatient = make_settings(
        settings.redis_url, settings.calypso_base_url, BRIDGE_CALYPSO_TIMEOUT="200ms"
    )
    app = create_app(impatient, retry=RetryPolicy.never())
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {settings.api_tokens[0]}"
        answer = await client.get(f"/v1/customers/{SOME_ID}")
    assert assert_problem(answer, 504)["code"] == "upstream_timeout"


async def test_wrong_calypso_credentials_are_a_502_that_reveals_nothing(
    settings: Settings, redis: object
) -> None:
    wrong = make_settings(
        settings.redis_url, settings.calypso_base_url, BRIDGE_CALYPSO_API_SECRET="leaky-secret"
    )
    async with AsyncTestClient(app=create_app(wrong)) as client:
        client.headers["Authorization"] = f"Bearer {settings.api_tokens[0]}"
        answer = await client.get(f"/v1/customers/{SOME_ID}")
    problem = assert_problem(answer, 502)
    assert problem["code"] == "upstream_auth_failed"
    assert "leaky-secret" not in answer.text


async def test_redis_down_gives_503_quickly_and_unready(settings: Settings) -> None:
    down = make_settings("redis://127.0.0.1:9/0", settings.calypso_base_url)
    async with AsyncTestClient(app=create_app(down)) as client:
        client.headers["Authorization"] = f"Bearer {settings.api_tokens[0]}"
        started = time.monotonic()
        answer = await client.post("/v1/customers", json={}, headers={"Idempotency-Key": "k"})
        elapsed = time.monotonic() - started
        assert assert_problem(answer, 503)["code"] == "storage_unavailable"
        assert elapsed < 5
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert assert_problem(ready, 503)["code"] == "not_ready"
