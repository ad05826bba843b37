"""The sandbox delivers its webhooks in order, without waiting, with retries, on demand again.

A real receiver on a real socket records every attempt (tests/support/receiver.py); tests
poll it, or the sandbox's ``sent`` and ``failed`` counters, with a deadline; never sleep.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import httpx
import pytest

from bridge.calypso.signing import verify
from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from tests.sandbox.hooks import (
    FUNDS_RECEIVED,
    HOOK_PATH,
    MEM_POOL,
    PENDING,
    WEBHOOK_SECRET,
    event_types,
    parsed,
    wait_for_status,
    webhook_status,
)
from tests.sandbox.wire import ACCOUNT, API_KEY, API_SECRET, advance, eth_deposit
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.sandbox_server import serve_in_thread


async def test_control_endpoints_answer_without_waiting_for_the_receiver(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    hooks.hold()

    transaction = await eth_deposit(client)
    for _ in range(2):
        response = await client.post(
            f"/sandbox/transactions/{transaction['id']}/advance", timeout=2.0
        )
        assert response.status_code == 200
    await hooks.wait_for(1, exactly=True)  # the first is in flight, held; the rest wait their turn
    hooks.release()

    assert event_types(await hooks.wait_for(3, exactly=True)) == [MEM_POOL, PENDING, FUNDS_RECEIVED]


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    hooks.answer_next(HOOK_PATH, Answer(500), Answer(503))

    await eth_deposit(client)

    status = await wait_for_status(client, sent=1)
    attempts = hooks.arrivals()
    assert len(attempts) == 3
    assert {r.body for r in attempts} == {attempts[0].body}
    assert (status["sent"], status["failed"]) == (1, 2)


async def test_an_unreachable_receiver_is_tried_four_times_then_later_events_still_flow(
    client: httpx.AsyncClient,
    hooks: WebhookReceiver,
    hook_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.sandbox.webhooks")
    with socket.socket() as closed:  # bound but not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://127.0.0.1:{port}/hooks"
        await client.put("/sandbox/webhooks", json={"url": url, "secret": WEBHOOK_SECRET})
        transaction = await eth_deposit(client)

        status = await wait_for_status(client, failed=4)

    assert (status["sent"], status["failed"]) == (0, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("failed (attempt 4 of 4)" in m for m in warnings), warnings
    assert any("dropped after 4 attempts" in m for m in warnings), warnings
    assert not any(WEBHOOK_SECRET in m for m in warnings)
    await client.put("/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET})
    await advance(client, transaction["id"])
    assert event_types(await hooks.wait_for(1, exactly=True)) == [PENDING]


async def test_resend_delivers_the_same_event_byte_for_byte(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    await eth_deposit(client)
    (original,) = await hooks.wait_for(1, exactly=True)
    event_id = parsed(original)["id"]

    response = await client.post("/sandbox/webhooks/resend", json={"id": event_id})

    assert response.status_code == 202
    assert response.json() == {"id": event_id}
    _, again = await hooks.wait_for(2, exactly=True)
    assert again.body == original.body
    assert again.headers["sign"] == original.headers["sign"]


async def test_resend_of_an_unknown_event_is_404_and_while_disabled_409(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    await eth_deposit(client)
    event_id = parsed((await hooks.wait_for(1, exactly=True))[0])["id"]

    unknown = await client.post("/sandbox/webhooks/resend", json={"id": event_id + 1000})
    await client.delete("/sandbox/webhooks")
    disabled = await client.post("/sandbox/webhooks/resend", json={"id": event_id})

    assert unknown.status_code == 404
    assert disabled.status_code == 409
    assert set(unknown.json()) == set(disabled.json()) == {"error"}


async def test_disabled_webhooks_send_nothing(
    client: httpx.AsyncClient, hooks: WebhookReceiver, hook_url: str
) -> None:
    assert (await client.delete("/sandbox/webhooks")).status_code == 204
    await eth_deposit(client)
    disabled = await webhook_status(client)
    await client.put("/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET})

    await eth_deposit(client, amount="2")

    (only,) = await hooks.wait_for(1, exactly=True)
    assert parsed(only)["data"]["amount"] == 2
    assert (disabled["enabled"], disabled["url"]) == (False, None)


async def test_webhooks_are_off_until_subscribed(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    assert await webhook_status(client) == {
        "url": None,
        "enabled": False,
        "sent": 0,
        "failed": 0,
    }


# --- the control endpoint ---------------------------------------------------------------------


async def test_subscribing_echoes_the_url_but_never_the_secret(
    client: httpx.AsyncClient, hook_url: str
) -> None:
    put = await client.put("/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET})
    status = await webhook_status(client)

    assert put.status_code == 200
    assert put.json() == {"url": hook_url, "enabled": True}
    assert status == {"url": hook_url, "enabled": True, "sent": 0, "failed": 0}
    assert WEBHOOK_SECRET not in put.text + json.dumps(status)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1:9/hooks"},
        {"secret": WEBHOOK_SECRET},
        {"url": "http://127.0.0.1:9/hooks", "secret": ""},
        {"url": "ftp://127.0.0.1/hooks", "secret": WEBHOOK_SECRET},
        {"url": "/v1/calypso/webhooks", "secret": WEBHOOK_SECRET},
        {"url": "http://127.0.0.1:x/hooks", "secret": WEBHOOK_SECRET},
        {"url": "http://127.0.0.1:9/hooks", "secret": WEBHOOK_SECRET, "events": ["ALL"]},
    ],
)
async def test_a_bad_subscription_is_refused_with_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.put("/sandbox/webhooks", json=body)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert not (await webhook_status(client))["enabled"]


async def test_a_sandbox_configured_with_a_webhook_url_sends_from_the_start_and_after_reset(
    hook_url: str, receiver: WebhookReceiver
) -> None:
    config = SandboxConfig(
        account=ACCOUNT,
        api_key=API_KEY,
        api_secret=API_SECRET,
        webhook_url=hook_url,
        webhook_secret=WEBHOOK_SECRET,
    )
    with serve_in_thread(create_sandbox_app(config)) as sandbox:
        async with httpx.AsyncClient(base_url=sandbox.url) as client:
            await eth_deposit(client)
            await client.post("/sandbox/reset")
            await eth_deposit(client)

            received = await receiver.wait_for(2, exactly=True)
            status = await webhook_status(client)

    assert all(verify(r.body, WEBHOOK_SECRET, r.headers["sign"]) for r in received)
    assert status["enabled"]


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://127.0.0.1:9/hooks", None),
        (None, WEBHOOK_SECRET),
        ("http://127.0.0.1:9/hooks", ""),
        ("127.0.0.1:9", WEBHOOK_SECRET),
    ],
)
def test_sandbox_config_refuses_half_or_bad_webhook_settings(
    url: str | None, secret: str | None
) -> None:
    with pytest.raises(ValueError, match="webhook"):
        SandboxConfig(
            account=ACCOUNT,
            api_key=API_KEY,
            api_secret=API_SECRET,
            webhook_url=url,
            webhook_secret=secret,
        )
