"""Deployments of several Calypso accounts for tests: each account has its own sandbox."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bridge.config import Settings
from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from tests.support.config import (
    ACCOUNT,
    API_KEY,
    API_SECRET,
    INBOUND_SECRET,
    SCENARIO_OVERRIDES,
    SECRETS_KEYS,
    TOKEN,
)
from tests.support.sandbox_server import RunningServer, serve_in_thread

__all__ = [
    "ACCOUNT_B",
    "AccountSetup",
    "account_a",
    "accounts_settings",
    "accounts_toml",
    "other_account",
    "sandbox_for",
]

ACCOUNT_B = "0x" + "2b" * 20


@dataclass(frozen=True)
class AccountSetup:
    id: str
    api_key: str
    api_secret: str
    webhook_secret: str
    base_url: str = ""


def account_a(base_url: str) -> AccountSetup:
    """The suite's usual account, on the session's sandbox."""
    return AccountSetup(ACCOUNT, API_KEY, API_SECRET, INBOUND_SECRET, base_url)


def other_account(account: str, base_url: str = "") -> AccountSetup:
    tag = account[2:6]
    return AccountSetup(account, f"key-{tag}", f"secret-{tag}", f"inbound-{tag}", base_url)


@contextmanager
def sandbox_for(account: AccountSetup, *, seed: int = 11) -> Iterator[RunningServer]:
    config = SandboxConfig(
        account=account.id, api_key=account.api_key, api_secret=account.api_secret, seed=seed
    )
    with serve_in_thread(create_sandbox_app(config)) as server:
        yield server


def accounts_toml(accounts: Sequence[AccountSetup], *, rate_limit: float | None = None) -> str:
    tables = []
    for a in accounts:
        lines = [
            "[[account]]",
            f'id = "{a.id}"',
            f'api_key = "{a.api_key}"',
            f'api_secret = "{a.api_secret}"',
            f'webhook_secret = "{a.webhook_secret}"',
        ]
        if a.base_url:
            lines.append(f'base_url = "{a.base_url}"')
        if rate_limit is not None:
            lines.append(f"rate_limit = {rate_limit}")
        tables.append("\n".join(lines))
    return "\n\n".join(tables) + "\n"


def accounts_settings(
    redis_url: str, accounts: Sequence[AccountSetup], **overrides: str
) -> Settings:
    """The scenarios' settings (see tests.support.config) serving ``accounts``."""
    environ: Mapping[str, str] = {
        **{k: v for k, v in SCENARIO_OVERRIDES.items() if k != "BRIDGE_CALYPSO_WEBHOOK_SECRET"},
        "BRIDGE_ACCOUNTS": accounts_toml(accounts),
        "BRIDGE_API_TOKENS": TOKEN,
        "BRIDGE_SECRETS_KEYS": SECRETS_KEYS,
        "BRIDGE_REDIS_URL": redis_url,
        "BRIDGE_CALYPSO_TIMEOUT": "2s",
        **overrides,
    }
    return Settings.from_env(environ)
