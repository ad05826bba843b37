"""Bearer-token authentication for ``/v1``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from bridge.api.access import SCOPES, Caller

__all__ = ["bearer_guard", "caller_scope"]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _presented_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_guard(tokens: Iterable[str], account: str) -> Guard:
    """Accept any configured token; compare digests so neither content nor length leaks."""
    digests = tuple(_digest(t) for t in tokens)
    everything = frozenset(SCOPES)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        token = _presented_token(connection)
        if token is None:
            raise NotAuthorizedException()
        presented = _digest(token)
        # Check every token, not the first match, so timing does not tell which one it was.
        matched = [hmac.compare_digest(presented, d) for d in digests]
        if not any(matched):
            raise NotAuthorizedException()
        connection.state["caller"] = Caller(
            name=f"token-{presented.hex()[:8]}", scopes=everything, accounts=None
        )
        connection.state["account"] = account

    return guard


def caller_scope(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """A short, non-secret name for the caller's token: idempotency keys are per caller."""
    token = _presented_token(connection) or ""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
