"""Who is calling, and for which Calypso account: decided once per request by the ``/v1``
guard (:mod:`bridge.api.auth`) and read by handlers and dependencies through
:func:`caller_of` and :func:`account_of`.

Every ``/v1`` route names the scope it needs with :func:`requires`; ``admin`` implies every
other scope. A subscription belongs to the token that made it: only its owner and ``admin``
see it (:meth:`Caller.sees`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from bridge.config import Settings
from bridge.tokens import ADMIN, SCOPES

__all__ = [
    "SCOPES",
    "SCOPE_OPT",
    "Caller",
    "CallerDep",
    "account_of",
    "caller_of",
    "configured_accounts",
    "provide_caller",
    "requires",
]

SCOPE_OPT: Final = "scope"


@dataclass(frozen=True)
class Caller:
    """A token's name (never the token), what it may do and on which accounts."""

    name: str
    scopes: frozenset[str]
    accounts: frozenset[str] | None  # None: every configured account

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes

    def allows(self, scope: str) -> bool:
        """``admin`` is everything: an operator who holds it expects no door to stay shut."""
        return self.is_admin or scope in self.scopes

    def sees(self, owner: str | None) -> bool:
        """Whether a subscription owned by ``owner`` exists for this caller (``None``: made
        before owners were recorded, so only ``admin`` sees it)."""
        return self.is_admin or (owner is not None and owner == self.name)

    @property
    def owner_filter(self) -> str | None:
        """The owner whose subscriptions this caller may touch; ``None``: every one."""
        return None if self.is_admin else self.name


def requires(scope: str) -> dict[str, Any]:
    """A route's keywords naming the scope it needs: read by the guard (``opt``) and shown
    in the OpenAPI document (the bearer requirement lists it)."""
    assert scope in SCOPES, scope
    return {"opt": {SCOPE_OPT: scope}, "security": [{"bearer": [scope]}]}


def configured_accounts(settings: Settings) -> tuple[str, ...]:
    """The ids (lower-case ``0x…``) of every account this deployment serves, in configured
    order: what the guard chooses from (a token's accounts, the ``Calypso-Account`` header)."""
    return tuple(account.id for account in settings.accounts)


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller: Caller = connection.state["caller"]
    return caller


def account_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    account: str = connection.state["account"]
    return account


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The ``caller`` dependency of ``/v1`` handlers."""
    return caller_of(request)


CallerDep = NamedDependency[Caller]
