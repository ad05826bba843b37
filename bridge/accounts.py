"""The Calypso accounts one deployment serves, read from ``BRIDGE_ACCOUNTS`` (TOML).

One ``[[account]]`` table per merchant account::

    [[account]]
    id = "0x…"                  # 0x + 40 hex digits, stored lower-case
    api_key = "…"
    api_secret = "…"            # or api_secret_file = "/run/secrets/…"
    webhook_secret = "…"        # optional; or webhook_secret_file
    base_url = "https://…"      # optional: BRIDGE_CALYPSO_BASE_URL
    rate_limit = 20             # optional: BRIDGE_UPSTREAM_RATE_LIMIT (requests/s)

The parser reports every problem at once, one line each naming the source, the entry (its
index and id) and the field, and never a secret value, so a bad file is fixed in one round.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridge.calypso.models import ACCOUNT_PATTERN

__all__ = ["Account", "parse_accounts"]

_FIELDS = frozenset(
    {
        "id",
        "api_key",
        "api_secret",
        "api_secret_file",
        "webhook_secret",
        "webhook_secret_file",
        "base_url",
        "rate_limit",
    }
)


@dataclass(frozen=True, kw_only=True)
class Account:
    """One Calypso merchant account: its credentials, webhook secret, upstream and limit."""

    id: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    base_url: str
    rate_limit: float


def parse_accounts(
    text: str, *, source: str, base_url: str, rate_limit: float
) -> tuple[tuple[Account, ...], list[str]]:
    """The accounts in ``text`` (TOML) and the problems found, one line each.

    ``source`` names where the text came from in those lines (a file path or the variable);
    ``base_url`` and ``rate_limit`` are the defaults of an entry that gives none.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message names a line and column, never the text around it.
        return (), [f"{source}: not valid TOML ({exc})"]
    problems: list[str] = []
    unknown = sorted(set(document) - {"account"})
    if unknown:
        problems.append(f"{source}: unknown table or key {', '.join(map(repr, unknown))}")
    entries = document.get("account")
    if entries is None or entries == []:
        problems.append(f"{source}: no [[account]] table")
        return (), problems
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(f"{source}: 'account' must be [[account]] tables")
        return (), problems
    accounts: list[Account] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        entry_problems: list[str] = []
        account = _entry(entry, base_url, rate_limit, entry_problems)
        where = f"{source}: account[{index}]"
        if isinstance(entry.get("id"), str):
            where += f" ({entry['id']})"
        problems.extend(f"{where}: {p}" for p in entry_problems)
        if account is None:
            continue
        if account.id in seen:
            problems.append(f"{where}: id: the same account as account[{seen[account.id]}]")
            continue
        seen[account.id] = index
        accounts.append(account)
    return tuple(accounts), problems


def _entry(
    entry: dict[str, Any], base_url: str, rate_limit: float, problems: list[str]
) -> Account | None:
    for name in sorted(set(entry) - _FIELDS):
        problems.append(f"{name}: unknown field")
    account_id = _text(entry, "id", problems, required=True)
    if account_id is not None and not re.fullmatch(ACCOUNT_PATTERN, account_id):
        problems.append("id: not a Calypso account (0x followed by 40 hex digits)")
        account_id = None
    api_key = _text(entry, "api_key", problems, required=True)
    api_secret = _secret(entry, "api_secret", problems, required=True)
    webhook_secret = _secret(entry, "webhook_secret", problems, required=False)
    url = _text(entry, "base_url", problems, required=False)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"base_url: {url!r} is not an http(s) URL")
    limit = entry.get("rate_limit", rate_limit)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or not limit > 0
        or math.isinf(limit)
    ):
        problems.append("rate_limit: must be a positive number (requests per second)")
    if problems or account_id is None or api_key is None or api_secret is None:
        return None
    return Account(
        id=account_id.lower(),
        api_key=api_key,
        api_secret=api_secret,
        webhook_secret=webhook_secret,
        base_url=(url or base_url).rstrip("/"),
        rate_limit=float(limit),
    )


def _text(entry: dict[str, Any], name: str, problems: list[str], *, required: bool) -> str | None:
    value = entry.get(name)
    if value is None:
        if required:
            problems.append(f"{name}: required, not set")
        return None
    if not isinstance(value, str) or not value.strip():
        # Worded without the value: the field may hold a secret.
        problems.append(f"{name}: must be a non-empty string")
        return None
    return value.strip()


def _secret(entry: dict[str, Any], name: str, problems: list[str], *, required: bool) -> str | None:
    """``name`` given inline, or read from the file ``name_file`` names (never both)."""
    file_name = f"{name}_file"
    if name in entry and file_name in entry:
        problems.append(f"{name}: set either {name} or {file_name}, not both")
        return None
    if file_name not in entry:
        return _text(entry, name, problems, required=required)
    path = _text(entry, file_name, problems, required=True)
    if path is None:
        return None
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{file_name}: cannot read {path!r}: {exc.strerror}")
        return None
    except UnicodeDecodeError:
        problems.append(f"{file_name}: {path!r} is not UTF-8 text")
        return None
    if not value:
        problems.append(f"{file_name}: {path!r} is empty")
        return None
    return value
