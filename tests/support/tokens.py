"""Named, scoped tokens for tests: grants beside the suite's all-scope TOKEN, and an app
that accepts them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from bridge.config import Settings
from bridge.tokens import SCOPES, TokenGrant, digest_of

__all__ = ["OTHER_ACCOUNT", "grant", "lacking", "with_tokens"]

# An account this deployment does not serve: a token for it is "a token of another account".
OTHER_ACCOUNT = "0x" + "2b" * 20


def grant(name: str, scopes: Iterable[str], accounts: Iterable[str] | None = None) -> TokenGrant:
    """A token named ``name`` whose secret is ``name + "-token"`` (tests only)."""
    return TokenGrant(
        name=name,
        digest=digest_of(f"{name}-token"),
        scopes=frozenset(scopes),
        accounts=None if accounts is None else frozenset(a.lower() for a in accounts),
    )


def lacking(scope: str) -> frozenset[str]:
    """Every scope but ``scope`` (and never ``admin``, which implies it)."""
    return frozenset(s for s in SCOPES if s not in (scope, "admin"))


def with_tokens(settings: Settings, *grants: TokenGrant) -> Settings:
    return dataclasses.replace(settings, tokens=(*settings.tokens, *grants))
