"""The test account, its credentials and the settings every suite builds the bridge with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.calypso.client import CalypsoClient
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings

__all__ = [
    "ACCOUNT",
    "API_KEY",
    "API_SECRET",
    "FAST_RETRY",
    "INBOUND_SECRET",
    "LOOPBACK_RECEIVERS",
    "RETRY_SCHEDULE",
    "SECRETS_KEYS",
    "TOKEN",
    "calypso_client",
    "make_settings",
    "scenario_settings",
    "worker_env",
]

ACCOUNT = "0x" + "1a" * 20
API_KEY = "sandbox-test-key"
API_SECRET = "sandbox-test-secret"
TOKEN = "test-token-0123456789"
INBOUND_SECRET = "inbound-secret"
# base64 of b"calypso-bridge tests, not secret": seals subscription secrets in the tests.
SECRETS_KEYS = "test:Y2FseXBzby1icmlkZ2UgdGVzdHMsIG5vdCBzZWNyZXQ="
# Retries 200 ms and 400 ms after the first attempt: the third failure is a dead letter.
RETRY_SCHEDULE = "0s,200ms,400ms"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.2)


def _environ(redis_url: str, sandbox_url: str) -> dict[str, str]:
    return {
        "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
        "BRIDGE_CALYPSO_API_KEY": API_KEY,
        "BRIDGE_CALYPSO_API_SECRET": API_SECRET,
        "BRIDGE_API_TOKENS": TOKEN,
        "BRIDGE_SECRETS_KEYS": SECRETS_KEYS,
        "BRIDGE_REDIS_URL": redis_url,
        "BRIDGE_CALYPSO_BASE_URL": sandbox_url,
    }


def make_settings(redis_url: str, sandbox_url: str, **overrides: str) -> Settings:
    """The bridge's defaults on this account, with ``overrides`` (environment names)."""
    return Settings.from_env(
        {**_environ(redis_url, sandbox_url), "BRIDGE_CALYPSO_TIMEOUT": "2s", **overrides}
    )


# The test receivers listen on plain HTTP on loopback, which the bridge refuses by default.
LOOPBACK_RECEIVERS: Mapping[str, str] = {
    "BRIDGE_WEBHOOK_ALLOW_HTTP": "true",
    "BRIDGE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
}

# What the scenarios run with: polls due quickly, a generous shared rate limit, inbound hints
# on, receivers on loopback allowed, and a retry schedule of milliseconds.
SCENARIO_OVERRIDES: Mapping[str, str] = {
    "BRIDGE_POLL_HOT_INTERVAL": "200ms",
    "BRIDGE_POLL_IDLE_INTERVAL": "2s",
    "BRIDGE_UPSTREAM_RATE_LIMIT": "2000",
    "BRIDGE_CALYPSO_WEBHOOK_SECRET": INBOUND_SECRET,
    **LOOPBACK_RECEIVERS,
    "BRIDGE_WEBHOOK_RETRY_SCHEDULE": RETRY_SCHEDULE,
    "BRIDGE_WEBHOOK_TIMEOUT": "2s",
}


def scenario_settings(redis_url: str, sandbox_url: str, **overrides: str) -> Settings:
    return make_settings(redis_url, sandbox_url, **{**SCENARIO_OVERRIDES, **overrides})


def worker_env(redis_url: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``bridge`` process started by a test (quiet, no metrics port)."""
    return {
        **_environ(redis_url, sandbox_url),
        "BRIDGE_UPSTREAM_RATE_LIMIT": "5000",
        "BRIDGE_LOG_LEVEL": "WARNING",
        "BRIDGE_METRICS_PORT": "0",
        **extra,
    }


def calypso_client(sandbox_url: str, **overrides: Any) -> CalypsoClient:
    """A Calypso client of the test's own on the test account: for setting up customers
    without the API, or for testing the client itself (``overrides``: its keywords)."""
    options: dict[str, Any] = {
        "base_url": sandbox_url,
        "account": ACCOUNT,
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "timeout": 2.0,
        "retry": FAST_RETRY,
        **overrides,
    }
    return CalypsoClient(**options)
