"""API tokens: who may call ``/v1``, on which accounts, with which scopes (DESIGN §10).

A named token is configured by the SHA-256 digest of the token, never the token, in TOML
(``BRIDGE_TOKENS`` / ``BRIDGE_TOKENS_FILE``)::

    [[token]]
    name = "billing"
    sha256 = "<64 hex digits>"
    accounts = ["0x…"]        # or ["*"]: every configured account
    scopes = ["customers:read", "events:read"]

Plain ``BRIDGE_API_TOKENS`` stay valid: each is a token with every scope on every account,
named by a short prefix of its digest. ``admin`` implies every other scope. Problems are
reported one line each (source, entry, field) and never quote a value that could be a
token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bridge.calypso.models import ACCOUNT_PATTERN

__all__ = [
    "ADMIN",
    "EVERY_ACCOUNT",
    "SCOPES",
    "TokenGrant",
    "check_accounts",
    "digest_of",
    "new_token",
    "parse_accounts",
    "parse_scopes",
    "plain_grants",
    "read_tokens",
    "token_table",
]

ADMIN: Final = "admin"
SCOPES: Final = (
    "customers:read",
    "customers:write",
    "events:read",
    "subscriptions:read",
    "subscriptions:write",
    ADMIN,
)
EVERY_ACCOUNT: Final = "*"
NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_FIELDS: Final = ("name", "sha256", "accounts", "scopes")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HINT = "store the sha256 that 'bridge token new' prints, never the token itself"


@dataclass(frozen=True)
class TokenGrant:
    """One token as configured: its name, digest, accounts (None: every one) and scopes."""

    name: str
    digest: bytes = field(repr=False)
    scopes: frozenset[str]
    accounts: frozenset[str] | None  # lower-case ids; None: every configured account

    def allows(self, scope: str) -> bool:
        """``admin`` is everything: an operator who holds it expects no door to stay shut."""
        return ADMIN in self.scopes or scope in self.scopes


def digest_of(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def plain_grants(tokens: Iterable[str]) -> tuple[TokenGrant, ...]:
    """``BRIDGE_API_TOKENS``: every scope on every account, named ``token-<digest prefix>``."""
    grants: dict[bytes, TokenGrant] = {}
    for token in tokens:
        digest = digest_of(token)
        grants[digest] = TokenGrant(f"token-{digest.hex()[:12]}", digest, frozenset(SCOPES), None)
    return tuple(grants.values())


def read_tokens(text: str, source: str) -> tuple[list[TokenGrant], list[str]]:
    """The grants in a ``[[token]]`` TOML document, and one line per problem found."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message names a line and column, never the text there.
        return [], [f"{source}: not TOML: {exc}"]
    problems = [
        f"{source}: unknown table or key {key!r}; only [[token]] tables"
        for key in document
        if key != "token"
    ]
    entries = document.get("token", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return [], [*problems, f"{source}: 'token' must be [[token]] tables"]
    grants: list[TokenGrant] = []
    names: dict[str, int] = {}
    digests: dict[bytes, int] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{source}: [[token]] #{number}"
        name, digest = entry.get("name"), entry.get("sha256")
        if isinstance(name, str) and re.fullmatch(NAME_PATTERN, name):
            where = f"{where} ({name})"
            if name in names:
                problems.append(f"{where}: name: also used by [[token]] #{names[name]}")
            names.setdefault(name, number)
        if isinstance(digest, str) and _HEX64.fullmatch(digest.lower()):
            seen = digests.setdefault(bytes.fromhex(digest), number)
            if seen != number:
                problems.append(f"{where}: sha256: the same token as [[token]] #{seen}")
        grant, found = _entry(entry, where)
        problems.extend(found)
        if grant is not None:
            grants.append(grant)
    return grants, problems


def _entry(entry: dict[str, Any], where: str) -> tuple[TokenGrant | None, list[str]]:
    problems: list[str] = []
    if "token" in entry:
        problems.append(f"{where}: token: a token never goes in this file; {_HINT}")
    problems.extend(
        f"{where}: unknown field {key!r} (fields: {', '.join(_FIELDS)})"
        for key in entry
        if key not in (*_FIELDS, "token")
    )
    name = entry.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        problems.append(
            f"{where}: name: required; letters, digits and _ . - (up to 64, "
            "starting with a letter or digit)"
        )
    digest = _digest_field(entry.get("sha256"), where, problems)
    scopes = _scopes_field(entry.get("scopes"), where, problems)
    accounts = _accounts_field(entry.get("accounts"), where, problems)
    if problems or not isinstance(name, str) or digest is None or scopes is None:
        return None, problems
    return TokenGrant(name, digest, scopes, accounts), []


def _digest_field(value: object, where: str, problems: list[str]) -> bytes | None:
    if value is None:
        problems.append(f"{where}: sha256: required (hex SHA-256 digest of the token)")
        return None
    if not isinstance(value, str) or not _HEX64.fullmatch(value.lower()):
        # Never quote it: a value that is not a digest is most likely the token itself.
        problems.append(
            f"{where}: sha256: not 64 hex digits (it looks like a plain token); {_HINT}"
        )
        return None
    return bytes.fromhex(value)


def _scopes_field(value: object, where: str, problems: list[str]) -> frozenset[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        problems.append(f"{where}: scopes: required, a non-empty list of {', '.join(SCOPES)}")
        return None
    try:
        return parse_scopes(value)
    except ValueError as exc:
        problems.append(f"{where}: scopes: {exc}")
        return None


def parse_scopes(values: Sequence[str]) -> frozenset[str]:
    unknown = [s for s in values if s not in SCOPES]
    if unknown:
        shown = ", ".join(_shown(s, r"[a-z_]{1,24}(:[a-z_]{1,24})?") for s in unknown)
        raise ValueError(f"{shown}: not a scope (one of {', '.join(SCOPES)})")
    return frozenset(values)


def _accounts_field(value: object, where: str, problems: list[str]) -> frozenset[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        problems.append(f'{where}: accounts: required, a list of 0x account ids or ["*"]')
        return None
    try:
        return parse_accounts(value)
    except ValueError as exc:
        problems.append(f"{where}: accounts: {exc}")
        return None


def parse_accounts(values: Sequence[str]) -> frozenset[str] | None:
    """Lower-case account ids, or None for ``*`` (every configured account)."""
    if not values:
        raise ValueError('at least one 0x account id, or "*"')
    if EVERY_ACCOUNT in values:
        if len(values) > 1:
            raise ValueError('"*" stands alone (it means every account)')
        return None
    bad = [a for a in values if not re.fullmatch(ACCOUNT_PATTERN, a)]
    if bad:
        shown = ", ".join(_shown(a, r"0x[0-9a-fA-F]{0,64}") for a in bad)
        raise ValueError(f"{shown}: not a Calypso account (0x and 40 hex digits)")
    return frozenset(a.lower() for a in values)


def _shown(value: str, harmless: str) -> str:
    """Quote a bad value only when it cannot be a token pasted in the wrong place."""
    return repr(value) if re.fullmatch(harmless, value) else "(a value not shown)"


def check_accounts(
    grants: Iterable[TokenGrant], configured: Iterable[str], source: str
) -> list[str]:
    """One line per token account that this deployment does not serve."""
    served = {a.lower() for a in configured}
    return [
        f"{source}: [[token]] ({grant.name}): accounts: {account} is not a configured account"
        for grant in grants
        if grant.accounts is not None
        for account in sorted(grant.accounts - served)
    ]


def new_token() -> tuple[str, str]:
    """A fresh random token and its hex SHA-256 digest (what the configuration keeps)."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def token_table(name: str, digest: str, scopes: Sequence[str], accounts: Sequence[str]) -> str:
    """The ``[[token]]`` table to paste into ``BRIDGE_TOKENS_FILE``."""

    def strings(values: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    return (
        "[[token]]\n"
        f'name = "{name}"\n'
        f'sha256 = "{digest}"\n'
        f"accounts = {strings(accounts)}\n"
        f"scopes = {strings(scopes)}\n"
    )
