"""A sandbox served on a real socket for this package's tests, reset before each test, and
the shared webhook receiver subscribed to it for the tests of the sandbox's own webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from tests.sandbox.hooks import HOOK_PATH, WEBHOOK_SECRET
from tests.sandbox.wire import ACCOUNT, API_KEY, API_SECRET
from tests.support.receiver import WebhookReceiver
from tests.support.sandbox_server import RunningServer, serve_in_thread


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[RunningServer]:
    config = SandboxConfig(account=ACCOUNT, api_key=API_KEY, api_secret=API_SECRET, seed=11)
    with serve_in_thread(create_sandbox_app(config)) as server:
        yield server


@pytest.fixture
async def client(running_sandbox: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_sandbox.url, timeout=5.0) as client:
        (await client.post("/sandbox/reset")).raise_for_status()
        yield client


# --- the sandbox's webhooks, to the shared receiver ---------------------------------------------


@pytest.fixture
def hook_url(receiver: WebhookReceiver) -> str:
    return f"{receiver.url}{HOOK_PATH}"


@pytest.fixture
async def hooks(
    client: httpx.AsyncClient, hook_url: str, receiver: WebhookReceiver
) -> WebhookReceiver:
    """The sandbox (already reset) subscribed to the receiver."""
    response = await client.put(
        "/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET}
    )
    assert response.status_code == 200, response.text
    return receiver
