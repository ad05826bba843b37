"""The /v1 guard: which token, which account, which scope (DESIGN §10)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request, Router, get, post
from litestar.testing import AsyncTestClient

from bridge.api.access import account_of, caller_of, requires
from bridge.api.auth import bearer_guard
from bridge.api.problems import exception_handlers
from bridge.cli import openapi_document
from bridge.tokens import SCOPES, plain_grants
from tests.support.config import ACCOUNT
from tests.support.tokens import OTHER_ACCOUNT, grant

ACCESS_DOC = (Path(__file__).parents[2] / "docs" / "access.md").read_text(encoding="utf-8")
SECOND = "0x" + "3c" * 20  # a second account the guard below serves
GRANTS = (
    *plain_grants(["plain-token-0123456789"]),
    grant("both", ["customers:read"], [ACCOUNT, SECOND]),
    grant("every", ["customers:read"]),  # accounts = "*"
    grant("first", ["customers:read"], [ACCOUNT]),
    grant("writer", ["customers:write"], [ACCOUNT]),
    grant("ops", ["admin"], [ACCOUNT]),
    grant("elsewhere", SCOPES, [OTHER_ACCOUNT]),
)


@get("/read", **requires("customers:read"))
async def read(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"account": account_of(request), "caller": caller_of(request).name}


@post("/write", **requires("customers:write"), status_code=200)
async def write(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"account": account_of(request)}


@get("/unscoped")
async def unscoped() -> dict[str, str]:
    return {}


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    guarded = Router(
        "/v1",
        route_handlers=[read, write, unscoped],
        guards=[bearer_guard(GRANTS, [ACCOUNT, SECOND])],
    )
    app = Litestar([guarded], exception_handlers=exception_handlers)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def as_(name: str, account: str | None = None) -> dict[str, str]:
    token = "plain-token-0123456789" if name == "plain" else f"{name}-token"
    headers = {"Authorization": f"Bearer {token}"}
    if account is not None:
        headers["Calypso-Account"] = account
    return headers


def test_the_guard_is_a_coroutine_so_litestar_never_runs_it_in_a_thread() -> None:
    assert inspect.iscoroutinefunction(bearer_guard(GRANTS, [ACCOUNT]))


async def test_a_token_with_one_account_acts_on_it_without_a_header(
    client: AsyncTestClient[Litestar],
) -> None:
    answer = await client.get("/v1/read", headers=as_("first"))
    assert answer.json() == {"account": ACCOUNT, "caller": "first"}


async def test_a_token_with_several_accounts_must_name_one(
    client: AsyncTestClient[Litestar],
) -> None:
    for name in ("both", "every", "plain"):
        missing = await client.get("/v1/read", headers=as_(name))
        assert missing.status_code == 400
        assert missing.json()["code"] == "account_required"
        chosen = await client.get("/v1/read", headers=as_(name, SECOND.upper().replace("X", "x")))
        assert chosen.status_code == 200
        assert chosen.json()["account"] == SECOND


async def test_an_account_the_token_lacks_or_the_bridge_does_not_serve_is_forbidden(
    client: AsyncTestClient[Litestar],
) -> None:
    for name, account in (("first", SECOND), ("every", OTHER_ACCOUNT), ("elsewhere", None)):
        refused = await client.get("/v1/read", headers=as_(name, account))
        assert refused.status_code == 403
        assert refused.json()["code"] == "account_forbidden"
    malformed = await client.get("/v1/read", headers=as_("first", "0xnope"))
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "invalid_request"


async def test_a_missing_scope_is_403_with_the_rfc_6750_challenge(
    client: AsyncTestClient[Litestar],
) -> None:
    refused = await client.post("/v1/write", headers=as_("first"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="customers:write"'
    )
    assert (await client.post("/v1/write", headers=as_("writer"))).status_code == 200
    # The write scope does not imply the read scope; admin implies both.
    assert (await client.get("/v1/read", headers=as_("writer"))).status_code == 403
    assert (await client.get("/v1/read", headers=as_("ops"))).status_code == 200
    assert (await client.post("/v1/write", headers=as_("ops"))).status_code == 200


async def test_a_route_without_a_scope_is_for_admin_only(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/v1/unscoped", headers=as_("first"))).status_code == 403
    assert (await client.get("/v1/unscoped", headers=as_("ops"))).status_code == 200


async def test_an_unknown_token_is_still_401(client: AsyncTestClient[Litestar]) -> None:
    for headers in ({"Authorization": "Bearer first"}, {}):
        refused = await client.get("/v1/read", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"


def test_every_v1_route_of_the_app_names_a_scope() -> None:
    app_routes = json.loads(openapi_document())["paths"]
    for path, operations in app_routes.items():
        if not path.startswith("/v1/") or path.startswith("/v1/calypso/"):
            continue
        for method, operation in operations.items():
            ((scheme, scopes),) = operation["security"][0].items()
            assert scheme == "bearer"
            assert len(scopes) == 1, (method, path)
            assert scopes[0] in SCOPES
            assert "403" in operation["responses"], (method, path)


def test_the_scope_table_of_docs_access_is_the_apps() -> None:
    documented = set(re.findall(r"^\| `([A-Z]+ /v1/\S+)` \| `([a-z:]+)` \|$", ACCESS_DOC, re.M))
    paths = json.loads(openapi_document())["paths"]
    served = {
        (f"{method.upper()} {path}", operation["security"][0]["bearer"][0])
        for path, operations in paths.items()
        if path.startswith("/v1/") and not path.startswith("/v1/calypso/")
        for method, operation in operations.items()
    }
    assert documented == served
