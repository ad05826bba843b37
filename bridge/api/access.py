"""Who is calling, and for which Calypso account: decided once per request by the ``/v1``
guard and read by handlers and dependencies through :func:`caller_of` and :func:`account_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar.connection import ASGIConnection

__all__ = ["SCOPES", "Caller", "account_of", "caller_of", "configured_accounts"]

SCOPES: Final = (
    "customers:read",
    "customers:write",
    "events:read",
    "subscriptions:read",
    "subscriptions:write",
    "admin",
)


@dataclass(frozen=True)
class Caller:
    """A token's name (never the token), what it may do and on which accounts."""

    name: str
    scopes: frozenset[str]
    accounts: frozenset[str] | None  # None: every configured account


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller: Caller = connection.state["caller"]
    return caller


def account_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    account: str = connection.state["account"]
    return account


def configured_accounts(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, ...]:
    """The ids (lower-case ``0x…``) of every account this bridge serves, in configured order:
    what a guard chooses from (a token's accounts, the ``Calypso-Account`` header)."""
    accounts: dict[str, Any] = connection.app.state.deployment.accounts
    return tuple(accounts)
