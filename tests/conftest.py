"""Real things for every test: a Redis server, the sandbox on a socket, the API app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from bridge.api.app import create_app
from bridge.calypso.client import CalypsoClient
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from tests.support.redis_server import real_redis
from tests.support.sandbox_server import RunningServer, serve_in_thread

ACCOUNT = "0x" + "1a" * 20
API_KEY = "sandbox-test-key"
API_SECRET = "sandbox-test-secret"
TOKEN = "test-token-0123456789"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.2)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with real_redis() as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningServer]:
    config = SandboxConfig(account=ACCOUNT, api_key=API_KEY, api_secret=API_SECRET, seed=7)
    with serve_in_thread(create_sandbox_app(config)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: RunningServer) -> Iterator[RunningServer]:
    """The sandbox, with faults, counters, its request log and webhooks cleared after each test."""
    yield sandbox_server
    for control in ("faults", "counters", "webhooks"):
        httpx.delete(f"{sandbox_server.url}/sandbox/{control}").raise_for_status()


@pytest.fixture
async def sandbox_control(sandbox: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        yield client


def make_settings(redis_url: str, sandbox_url: str, **overrides: str) -> Settings:
    environ = {
        "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
        "BRIDGE_CALYPSO_API_KEY": API_KEY,
        "BRIDGE_CALYPSO_API_SECRET": API_SECRET,
        "BRIDGE_API_TOKENS": TOKEN,
        "BRIDGE_REDIS_URL": redis_url,
        "BRIDGE_CALYPSO_BASE_URL": sandbox_url,
        "BRIDGE_CALYPSO_TIMEOUT": "2s",
        **overrides,
    }
    return Settings.from_env(environ)


@pytest.fixture
def settings(redis_url: str, sandbox: RunningServer) -> Settings:
    return make_settings(redis_url, sandbox.url)


@pytest.fixture
async def calypso(settings: Settings) -> AsyncIterator[CalypsoClient]:
    async with CalypsoClient(
        base_url=settings.calypso_base_url,
        account=settings.calypso_account,
        api_key=settings.calypso_api_key,
        api_secret=settings.calypso_api_secret,
        timeout=settings.calypso_timeout,
        retry=FAST_RETRY,
    ) as client:
        yield client


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[AsyncTestClient[object]]:
    app = create_app(settings, retry=FAST_RETRY)
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client
