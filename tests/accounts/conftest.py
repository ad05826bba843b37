"""Two accounts, A (the suite's usual account, on the session's sandbox) and B (on a sandbox
of its own), served by one bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.config import Settings
from bridge.store.connection import RedisClient
from tests.support.accounts import (
    ACCOUNT_B,
    AccountSetup,
    account_a,
    accounts_settings,
    other_account,
    sandbox_for,
)
from tests.support.config import FAST_RETRY, TOKEN
from tests.support.sandbox_server import RunningServer


@pytest.fixture(scope="session")
def sandbox_b_server() -> Iterator[RunningServer]:
    with sandbox_for(other_account(ACCOUNT_B)) as server:
        yield server


@pytest.fixture
def sandbox_b(sandbox_b_server: RunningServer) -> Iterator[RunningServer]:
    reset = f"{sandbox_b_server.url}/sandbox/reset"
    httpx.post(reset).raise_for_status()
    yield sandbox_b_server
    httpx.post(reset).raise_for_status()


@pytest.fixture
async def sandbox_b_control(sandbox_b: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_b.url) as client:
        yield client


@pytest.fixture
def accounts(sandbox: RunningServer, sandbox_b: RunningServer) -> tuple[AccountSetup, AccountSetup]:
    return account_a(sandbox.url), other_account(ACCOUNT_B, sandbox_b.url)


@pytest.fixture
def two_accounts(redis_url: str, accounts: tuple[AccountSetup, AccountSetup]) -> Settings:
    return accounts_settings(redis_url, accounts)


@pytest.fixture
async def two_api(
    two_accounts: Settings, redis: RedisClient
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(two_accounts, retry=FAST_RETRY)
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client
