"""Workers against the sandbox and a real Redis, plus helpers to read the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from bridge.calypso.client import CalypsoClient
from bridge.config import Settings
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.conftest import ACCOUNT, API_KEY, API_SECRET, FAST_RETRY, make_settings
from tests.support.sandbox_server import RunningServer


@pytest.fixture
def settings(redis_url: str, sandbox: RunningServer) -> Settings:
    """Fast polling, a generous rate limit and inbound webhooks on, for the API and workers."""
    return make_settings(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="200ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_UPSTREAM_RATE_LIMIT="2000",
        BRIDGE_CALYPSO_WEBHOOK_SECRET="inbound-secret",
    )


@pytest.fixture
def poll_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture
async def worker(poll_settings: Settings, redis: Redis) -> AsyncIterator[Worker]:
    instance = Worker(poll_settings, retry=FAST_RETRY, name="test-worker")
    yield instance
    await instance.aclose()


@pytest.fixture
async def direct_calypso(sandbox: RunningServer) -> AsyncIterator[CalypsoClient]:
    """A client of the test's own, for setting up customers without the API."""
    async with CalypsoClient(
        base_url=sandbox.url,
        account=ACCOUNT,
        api_key=API_KEY,
        api_secret=API_SECRET,
        retry=FAST_RETRY,
    ) as client:
        yield client


async def stream_events(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    key = Keys(settings.key_prefix, settings.calypso_account).events
    entries = await redis.xrange(key)
    return [msgspec.json.decode(fields[b"event"]) for _, fields in entries]


async def transaction_events(
    redis: Redis, settings: Settings, transaction_id: str
) -> list[dict[str, Any]]:
    return [
        e
        for e in await stream_events(redis, settings)
        if e["type"].startswith("transaction.") and e["data"]["transaction"]["id"] == transaction_id
    ]


async def poll_now(worker: Worker, *customers: str) -> None:
    """Make customers due now and poll everything due (the burst mode of the runner)."""
    for customer in customers:
        await worker.schedule.poke(customer)
    await worker.drain()


async def new_customer_with_address(api: Any, currency: str = "ETH") -> tuple[str, str]:
    customer = (await api.post("/v1/customers", json={})).json()["id"]
    purse = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": currency})
    return customer, purse.json()["address"]


async def deposit(
    control: httpx.AsyncClient, address: str, amount: str, currency: str = "ETH", **extra: Any
) -> str:
    answer = await control.post(
        "/sandbox/deposits",
        json={"address": address, "currency": currency, "amount": amount, **extra},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])
