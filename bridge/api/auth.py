"""Bearer-token authentication and authorisation for ``/v1`` (DESIGN §10).

In order: the token (401 ``unauthorized``), the account it acts on (400
``account_required``, 403 ``account_forbidden``), then the route's scope (403
``insufficient_scope`` with RFC 6750's ``WWW-Authenticate``). The guard is a coroutine:
Litestar would run a plain function in a worker thread on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from bridge.api.access import SCOPE_OPT, Caller, caller_of
from bridge.api.problems import ProblemError
from bridge.calypso.models import ACCOUNT_PATTERN
from bridge.tokens import ADMIN, TokenGrant

__all__ = ["ACCOUNT_HEADER", "bearer_guard", "caller_scope"]

ACCOUNT_HEADER = "Calypso-Account"


def _presented_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_guard(grants: Iterable[TokenGrant], accounts: Iterable[str]) -> Guard:
    """Accept a configured token for one of its accounts and the route's scope."""
    known = tuple(grants)
    served = {a.lower(): a for a in accounts}

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        token = _presented_token(connection)
        if token is None:
            raise NotAuthorizedException()
        presented = hashlib.sha256(token.encode()).digest()
        # Compare with every token, not up to the first match, so timing tells nothing.
        matched = [g for g in known if hmac.compare_digest(presented, g.digest)]
        if not matched:
            raise NotAuthorizedException()
        grant = matched[0]
        caller = Caller(grant.name, grant.scopes, grant.accounts)
        connection.state["caller"] = caller
        connection.state["account"] = _account(connection, caller, served)
        # A route that forgot to name its scope is for admins only: closed, not open.
        scope = str(handler.opt.get(SCOPE_OPT, ADMIN))
        if not caller.allows(scope):
            raise ProblemError(
                403,
                "insufficient_scope",
                "The token lacks the scope this route needs",
                f"This route needs the '{scope}' scope.",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )

    return guard


def _account(
    connection: ASGIConnection[Any, Any, Any, Any], caller: Caller, served: dict[str, str]
) -> str:
    """The caller's only account, or the one its ``Calypso-Account`` header names."""
    mine = sorted(served if caller.accounts is None else caller.accounts & served.keys())
    named = connection.headers.get(ACCOUNT_HEADER)
    if named is None:
        if len(mine) == 1:
            return served[mine[0]]
        if not mine:
            raise _forbidden("The token may act on no account this bridge serves.")
        raise ProblemError(
            400,
            "account_required",
            "Say which account the request is for",
            f"The token may act on several accounts: name one in the {ACCOUNT_HEADER} header.",
        )
    if not re.fullmatch(ACCOUNT_PATTERN, named.strip()):
        raise ProblemError(
            400,
            "invalid_request",
            "The request is not valid",
            f"{ACCOUNT_HEADER} must be a Calypso account id (0x and 40 hex digits).",
        )
    wanted = named.strip().lower()
    if wanted not in mine:
        raise _forbidden("The token may not act on this account, or the bridge does not serve it.")
    return served[wanted]


def _forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "account_forbidden", "The token may not act on this account", detail)


def caller_scope(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Whose idempotency records these are: the token's name (names are unique)."""
    return caller_of(connection).name
