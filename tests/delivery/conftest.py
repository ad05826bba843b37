"""A receiver on 127.0.0.1, an API and a worker whose dispatcher may deliver to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from bridge.config import Settings
from bridge.worker import Worker
from tests.conftest import FAST_RETRY, make_settings
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.webhook_receiver import WebhookReceiver

SCHEDULE = "0s,200ms,400ms"


@pytest.fixture
def settings(redis_url: str, sandbox: RunningServer) -> Settings:
    """Loopback receivers allowed explicitly, and a retry schedule of milliseconds."""
    return make_settings(
        redis_url,
        sandbox.url,
        BRIDGE_WEBHOOK_ALLOW_HTTP="true",
        BRIDGE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8,::1/128",
        BRIDGE_WEBHOOK_RETRY_SCHEDULE=SCHEDULE,
        BRIDGE_WEBHOOK_TIMEOUT="2s",
        BRIDGE_POLL_HOT_INTERVAL="200ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_UPSTREAM_RATE_LIMIT="2000",
    )


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    app = WebhookReceiver()
    with serve_in_thread(app) as server:
        yield app, server.url


@pytest.fixture
async def worker(settings: Settings, redis: Redis) -> AsyncIterator[Worker]:
    instance = Worker(settings, retry=FAST_RETRY, name="delivery-test")
    yield instance
    await instance.aclose()


@pytest.fixture
async def dispatching(worker: Worker) -> AsyncIterator[Worker]:
    """The worker's dispatcher running in the background, as in production."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.dispatcher.run(stop))
    yield worker
    stop.set()
    await task


async def subscribe(api: Any, url: str, **fields: Any) -> dict[str, Any]:
    answer = await api.post("/v1/subscriptions", json={"url": url, **fields})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created
