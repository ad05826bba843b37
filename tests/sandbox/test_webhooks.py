"""The sandbox sends Calypso's own purse webhooks: signed, in order, retried, replayable.

A real receiver on a real socket records every body byte for byte. Tests wait for what
should arrive by polling it; to show that something was *not* sent, they make one more event
that must be sent and check it arrives alone, since events are delivered in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bridge.calypso.models import ComplianceState, TransactionState
from bridge.calypso.signing import verify
from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from bridge.sandbox.purse_events import PurseEventType, transaction_events
from bridge.sandbox.records import TransactionRecord
from bridge.sandbox.webhooks import subscription_id_for
from tests.sandbox.receiver import Received, Receiver
from tests.sandbox.wire import (
    ACCOUNT,
    API_KEY,
    API_SECRET,
    ETH_AMOUNT,
    advance,
    deposit,
    eth_deposit,
    new_customer,
    new_purse,
    ok,
)
from tests.support.sandbox_server import RunningServer, serve_in_thread

WEBHOOK_SECRET = "webhook-secret"
MEM_POOL = "CUSTOMER_PURSE_MEM_POOL_FOUND"
PENDING = "CUSTOMER_PURSE_PENDING_COMPLIANCE"
FUNDS_RECEIVED = "CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE"
DECLINED = "CUSTOMER_PURSE_COMPLIANCE_DECLINED"
CREDITED = "CUSTOMER_PURSE_TRANSLATION_TO_ACCOUNT_COMPLETED"
EXPIRED = "CUSTOMER_PURSE_EXPIRED"


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[RunningServer]:
    with serve_in_thread(Receiver()) as server:
        yield server


@pytest.fixture
def receiver(receiver_server: RunningServer) -> Iterator[Receiver]:
    app: Receiver = receiver_server.app
    app.reset()
    yield app
    app.release()  # never leave the sandbox's sender waiting on a held answer


@pytest.fixture
def hook_url(receiver_server: RunningServer) -> str:
    return f"{receiver_server.url}/v1/calypso/webhooks"


@pytest.fixture
async def hooks(client: httpx.AsyncClient, hook_url: str, receiver: Receiver) -> Receiver:
    """The sandbox (already reset) subscribed to the receiver."""
    response = await client.put(
        "/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET}
    )
    assert response.status_code == 200, response.text
    return receiver


def parsed(received: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(received.body, parse_float=Decimal)
    return body


def event_types(received: list[Received]) -> list[str]:
    return [parsed(r)["eventType"] for r in received]


async def webhook_status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/sandbox/webhooks")
    assert response.status_code == 200
    status: dict[str, Any] = response.json()
    return status


async def wait_for_status(client: httpx.AsyncClient, **expected: int) -> dict[str, Any]:
    """Polls ``GET /sandbox/webhooks`` until its counters read ``expected``."""
    deadline = time.monotonic() + 5.0
    while True:
        status = await webhook_status(client)
        if all(status[k] == v for k, v in expected.items()):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.01)


async def patch(client: httpx.AsyncClient, transaction_id: str, **fields: Any) -> None:
    response = await client.patch(f"/sandbox/transactions/{transaction_id}", json=fields)
    assert response.status_code == 200, response.text


# --- which events, in which order -------------------------------------------------------------


async def test_each_lifecycle_step_sends_its_event_in_order(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    transaction = await eth_deposit(client)
    for _ in range(3):
        assert (await advance(client, transaction["id"])).status_code == 200

    received = await hooks.wait_for(4)

    assert event_types(received) == [MEM_POOL, PENDING, FUNDS_RECEIVED, CREDITED]
    assert {parsed(r)["data"]["transactionId"] for r in received} == {transaction["id"]}
    assert {r.path for r in received} == {"/v1/calypso/webhooks"}


async def test_a_declined_deposit_sends_compliance_declined(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    transaction = await eth_deposit(client)
    await advance(client, transaction["id"])
    await advance(client, transaction["id"], decline=True)

    assert event_types(await hooks.wait_for(3)) == [MEM_POOL, PENDING, DECLINED]


async def test_a_deposit_created_in_a_later_state_sends_only_that_states_event(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    customer_id = (await new_customer(client))["id"]
    await new_purse(client, customer_id, "BTC")

    await deposit(
        client, customerId=customer_id, currency="BTC", amount="1", transactionState="CONFIRMED"
    )

    assert event_types(await hooks.wait_for(1)) == [FUNDS_RECEIVED]


async def test_a_compliance_only_patch_sends_nothing(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    transaction = await eth_deposit(client)
    await patch(client, transaction["id"], complianceState="IN_PROGRESS")
    await patch(client, transaction["id"], transactionState="MEM_POOL_FOUND")  # no change

    await patch(client, transaction["id"], transactionState="PENDING_COMPLIANCE_CHECK")

    assert event_types(await hooks.wait_for(2)) == [MEM_POOL, PENDING]


async def test_a_patch_that_confirms_and_credits_sends_both_events_in_order(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    transaction = await eth_deposit(client)

    await patch(
        client,
        transaction["id"],
        transactionState="CONFIRMED",
        translationToAccountCompleted=True,
    )

    assert event_types(await hooks.wait_for(3)) == [MEM_POOL, FUNDS_RECEIVED, CREDITED]


async def test_expiring_a_purse_sends_customer_purse_expired_once_with_purse_data_only(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "TRX")
    await ok(client, "customer/block", {"customerId": customer_id})

    await client.post(f"/sandbox/purses/{purse['id']}/expire")
    await client.post(f"/sandbox/purses/{purse['id']}/expire")  # already expired: no event
    await ok(client, "customer/unblock", {"customerId": customer_id})
    await deposit(client, address=purse["address"], currency="TRX", amount="3")

    received = await hooks.wait_for(2)
    assert event_types(received) == [EXPIRED, MEM_POOL]
    assert parsed(received[0])["data"] == {
        "customerId": customer_id,
        "customerBlocked": True,
        "purseId": purse["id"],
        "address": purse["address"],
    }


# --- what each webhook looks like -------------------------------------------------------------


async def test_sign_is_hmac_sha512_of_the_exact_body_with_the_webhook_secret_and_key_the_api_key(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    await eth_deposit(client)

    (received,) = await hooks.wait_for(1)

    assert received.headers["content-type"] == "application/json"
    assert received.headers["key"] == API_KEY
    assert re.fullmatch(r"[0-9a-f]{128}", received.headers["sign"])
    assert verify(received.body, WEBHOOK_SECRET, received.headers["sign"])
    assert not verify(received.body, API_SECRET, received.headers["sign"])
    assert WEBHOOK_SECRET.encode() not in received.body


async def test_the_body_is_calypsos_envelope_with_an_exact_18_decimal_amount(
    client: httpx.AsyncClient, hooks: Receiver, running_sandbox: RunningServer
) -> None:
    transaction = await eth_deposit(client)
    await advance(client, transaction["id"])

    first, second = await hooks.wait_for(2)

    body = parsed(first)
    assert list(body) == [
        "requestId",
        "id",
        "createdDate",
        "level",
        "service",
        "eventType",
        "data",
    ]
    assert body["requestId"] == str(running_sandbox.app.state.webhooks.subscription_id)
    assert parsed(second)["requestId"] == body["requestId"]  # the subscription, not the event
    assert isinstance(body["id"], int)
    assert parsed(second)["id"] > body["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", body["createdDate"])
    assert datetime.fromisoformat(body["createdDate"]).tzinfo is None
    assert (body["level"], body["service"], body["eventType"]) == (
        "INFO",
        "CUSTOMER_PURSE",
        MEM_POOL,
    )
    assert body["data"] == {
        "customerId": transaction["customerId"],
        "customerBlocked": False,
        "purseId": transaction["purseId"],
        "address": transaction["address"],
        "transactionId": transaction["id"],
        "currency": "ETH",
        "amount": Decimal(ETH_AMOUNT),
    }
    assert f'"amount":{ETH_AMOUNT}'.encode() in first.body


async def test_event_ids_keep_increasing_across_a_reset(
    client: httpx.AsyncClient, hooks: Receiver, hook_url: str
) -> None:
    await eth_deposit(client)
    (before,) = await hooks.wait_for(1)
    await client.post("/sandbox/reset")
    await client.put("/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET})

    await eth_deposit(client)

    _, after = await hooks.wait_for(2)
    assert parsed(after)["id"] > parsed(before)["id"]


def test_the_subscription_id_is_reproducible_with_a_seed_and_not_a_customers() -> None:
    assert subscription_id_for(11) == subscription_id_for(11) != subscription_id_for(12)
    assert subscription_id_for(None) != subscription_id_for(None)
    assert subscription_id_for(11).version == 4


# --- delivery ---------------------------------------------------------------------------------


async def test_control_endpoints_answer_without_waiting_for_the_receiver(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    hooks.hold()

    transaction = await eth_deposit(client)
    for _ in range(2):
        response = await client.post(
            f"/sandbox/transactions/{transaction['id']}/advance", timeout=2.0
        )
        assert response.status_code == 200
    await hooks.wait_for(1)  # the first is in flight, held; the rest wait their turn
    hooks.release()

    assert event_types(await hooks.wait_for(3)) == [MEM_POOL, PENDING, FUNDS_RECEIVED]


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    hooks.answer_next(500, 503)

    await eth_deposit(client)

    status = await wait_for_status(client, sent=1)
    attempts = hooks.received
    assert len(attempts) == 3
    assert {r.body for r in attempts} == {attempts[0].body}
    assert (status["sent"], status["failed"]) == (1, 2)


async def test_an_unreachable_receiver_is_tried_four_times_then_later_events_still_flow(
    client: httpx.AsyncClient, hooks: Receiver, hook_url: str, caplog: pytest.LogCaptureFixture
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
    assert event_types(await hooks.wait_for(1)) == [PENDING]


async def test_resend_delivers_the_same_event_byte_for_byte(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    await eth_deposit(client)
    (original,) = await hooks.wait_for(1)
    event_id = parsed(original)["id"]

    response = await client.post("/sandbox/webhooks/resend", json={"id": event_id})

    assert response.status_code == 202
    assert response.json() == {"id": event_id}
    _, again = await hooks.wait_for(2)
    assert again.body == original.body
    assert again.headers["sign"] == original.headers["sign"]


async def test_resend_of_an_unknown_event_is_404_and_while_disabled_409(
    client: httpx.AsyncClient, hooks: Receiver
) -> None:
    await eth_deposit(client)
    event_id = parsed((await hooks.wait_for(1))[0])["id"]

    unknown = await client.post("/sandbox/webhooks/resend", json={"id": event_id + 1000})
    await client.delete("/sandbox/webhooks")
    disabled = await client.post("/sandbox/webhooks/resend", json={"id": event_id})

    assert unknown.status_code == 404
    assert disabled.status_code == 409
    assert set(unknown.json()) == set(disabled.json()) == {"error"}


async def test_disabled_webhooks_send_nothing(
    client: httpx.AsyncClient, hooks: Receiver, hook_url: str
) -> None:
    assert (await client.delete("/sandbox/webhooks")).status_code == 204
    await eth_deposit(client)
    disabled = await webhook_status(client)
    await client.put("/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET})

    await eth_deposit(client, amount="2")

    (only,) = await hooks.wait_for(1)
    assert parsed(only)["data"]["amount"] == 2
    assert (disabled["enabled"], disabled["url"]) == (False, None)


async def test_webhooks_are_off_until_subscribed(
    client: httpx.AsyncClient, receiver: Receiver
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
    hook_url: str, receiver: Receiver
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

            received = await receiver.wait_for(2)
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


# --- the rule, as a pure function -------------------------------------------------------------


def _transaction(state: str, *, credited: bool = False) -> TransactionRecord:
    return TransactionRecord(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        purse_id=uuid.uuid4(),
        currency="ETH",
        amount=Decimal(1),
        address_from="0x",
        transaction_hash="0x",
        state=TransactionState(state),
        compliance=ComplianceState.CHECKED,
        credited=credited,
        created_us=0,
    )


@pytest.mark.parametrize(
    ("before", "was_credited", "after", "credited", "expected"),
    [
        (None, False, "MEM_POOL_FOUND", False, [MEM_POOL]),
        (None, False, "DECLINED", False, [DECLINED]),
        ("MEM_POOL_FOUND", False, "MEM_POOL_FOUND", False, []),
        ("MEM_POOL_FOUND", False, "CONFIRMED", True, [FUNDS_RECEIVED, CREDITED]),
        ("CONFIRMED", False, "CONFIRMED", True, [CREDITED]),
        ("CONFIRMED", True, "CONFIRMED", False, []),
    ],
)
def test_transaction_events_announce_the_state_reached_then_crediting(
    before: str | None, was_credited: bool, after: str, credited: bool, expected: list[str]
) -> None:
    events = transaction_events(
        None if before is None else TransactionState(before),
        was_credited,
        _transaction(after, credited=credited),
    )

    assert events == [PurseEventType(e) for e in expected]
