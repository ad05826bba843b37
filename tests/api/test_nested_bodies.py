"""A body nested deeper than any request needs is a 400 problem on every route that reads
one, never a 500 (a JSON decoder's recursion limit is the caller's doing, not ours)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.api.inbound import MAX_BODY as INBOUND_MAX_BODY
from bridge.calypso.signing import sign
from bridge.config import Settings
from tests.support.config import INBOUND_SECRET, TOKEN

SOME_ID = "3f0f3c1e-8d6a-4e0e-a3a5-6f1d3b3c2a10"
PROBLEM = "application/problem+json"


def nested(shape: str, depth: int) -> bytes:
    return {
        "array": b"[" * depth + b"]" * depth,
        "object": b'{"a":' * depth + b"1" + b"}" * depth,
        "object in a field": b'{"description":' + b'{"a":' * depth + b"1" + b"}" * (depth + 1),
        "array in a field": b'{"eventTypes":' + b"[" * depth + b"]" * depth + b"}",
    }[shape]


def body_routes(app: Litestar) -> list[tuple[str, str]]:
    """Every (method, path) whose handler reads a JSON body, the inbound webhook included."""
    found = []
    for route in app.routes:
        for method, handler in getattr(route, "route_handler_map", {}).items():
            if method not in ("POST", "PUT", "PATCH"):
                continue
            handler = handler[0] if isinstance(handler, tuple) else handler
            parameters = handler.parsed_fn_signature.parameters
            if "data" not in parameters and route.path != "/v1/calypso/webhooks":
                continue
            path = route.path.replace("{customer_id:uuid}", SOME_ID)
            path = path.replace("{subscription_id:str}", "sub_" + "a" * 24)
            found.append((method, path.replace("{event_id:str}", "evt_" + "a" * 26)))
    return sorted(found)


@pytest.fixture
async def client(settings: Settings, redis: object) -> Any:
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def test_the_routes_that_read_a_body_are_all_checked(settings: Settings) -> None:
    routes = body_routes(create_app(settings))
    # Eight v1 routes take a body today, plus Calypso's webhooks; new ones join by themselves.
    assert len(routes) >= 9
    assert ("POST", "/v1/calypso/webhooks") in routes


@pytest.mark.parametrize("shape", ["array", "object", "object in a field", "array in a field"])
@pytest.mark.parametrize("depth", [100_000, 10_000])
async def test_a_deeply_nested_body_is_a_400_problem_on_every_route(
    client: AsyncTestClient[Litestar], shape: str, depth: int
) -> None:
    body = nested(shape, depth)
    answers = {}
    for method, path in body_routes(client.app):
        headers = {"Content-Type": "application/json"}
        if path == "/v1/calypso/webhooks":
            # Signed, so it gets past the signature check to the parsing.
            headers["Sign"] = sign(body, INBOUND_SECRET)
        answer = await client.request(method, path, content=body, headers=headers)
        problem = answer.json() if answer.headers["content-type"] == PROBLEM else {}
        answers[f"{method} {path}"] = (answer.status_code, problem.get("code"))
    # Calypso's webhooks are capped at 64 KiB: a bigger body is refused before it is read.
    refused = (413, "http_413") if len(body) > INBOUND_MAX_BODY else (400, "invalid_request")
    expected = {route: (400, "invalid_request") for route in answers}
    expected["POST /v1/calypso/webhooks"] = refused
    wrong = {route: got for route, got in answers.items() if got != expected[route]}
    assert not wrong, f"a nested {shape} {depth} deep is not a 400 problem on: {wrong}"
