"""The sandbox announces purse changes with Calypso's own webhooks, shaped as Calypso's.

A real receiver on a real socket records every body byte for byte (tests/support/receiver.py).
Tests wait for what should arrive by polling it; to show that something was *not* sent, they make
one more event that must be sent and check it arrives alone, since events are delivered in
order.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bridge.calypso.models import ComplianceState, TransactionState
from bridge.calypso.signing import verify
from bridge.sandbox.purse_events import PurseEventType, transaction_events
from bridge.sandbox.records import TransactionRecord
from bridge.sandbox.webhooks import subscription_id_for
from tests.sandbox.hooks import (
    CREDITED,
    DECLINED,
    EXPIRED,
    FUNDS_RECEIVED,
    MEM_POOL,
    PENDING,
    WEBHOOK_SECRET,
    event_types,
    parsed,
)
from tests.sandbox.wire import (
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
from tests.support.receiver import WebhookReceiver
from tests.support.sandbox_server import RunningServer


async def patch(client: httpx.AsyncClient, transaction_id: str, **fields: Any) -> None:
    response = await client.patch(f"/sandbox/transactions/{transaction_id}", json=fields)
    assert response.status_code == 200, response.text


# --- which events, in which order -------------------------------------------------------------


async def test_each_lifecycle_step_sends_its_event_in_order(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    transaction = await eth_deposit(client)
    for _ in range(3):
        assert (await advance(client, transaction["id"])).status_code == 200

    received = await hooks.wait_for(4, exactly=True)

    assert event_types(received) == [MEM_POOL, PENDING, FUNDS_RECEIVED, CREDITED]
    assert {parsed(r)["data"]["transactionId"] for r in received} == {transaction["id"]}
    assert {r.path for r in received} == {"/v1/calypso/webhooks"}


async def test_a_declined_deposit_sends_compliance_declined(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    transaction = await eth_deposit(client)
    await advance(client, transaction["id"])
    await advance(client, transaction["id"], decline=True)

    assert event_types(await hooks.wait_for(3, exactly=True)) == [MEM_POOL, PENDING, DECLINED]


async def test_a_deposit_created_in_a_later_state_sends_only_that_states_event(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    customer_id = (await new_customer(client))["id"]
    await new_purse(client, customer_id, "BTC")

    await deposit(
        client, customerId=customer_id, currency="BTC", amount="1", transactionState="CONFIRMED"
    )

    assert event_types(await hooks.wait_for(1, exactly=True)) == [FUNDS_RECEIVED]


async def test_a_compliance_only_patch_sends_nothing(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    transaction = await eth_deposit(client)
    await patch(client, transaction["id"], complianceState="IN_PROGRESS")
    await patch(client, transaction["id"], transactionState="MEM_POOL_FOUND")  # no change

    await patch(client, transaction["id"], transactionState="PENDING_COMPLIANCE_CHECK")

    assert event_types(await hooks.wait_for(2, exactly=True)) == [MEM_POOL, PENDING]


async def test_a_patch_that_confirms_and_credits_sends_both_events_in_order(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    transaction = await eth_deposit(client)

    await patch(
        client,
        transaction["id"],
        transactionState="CONFIRMED",
        translationToAccountCompleted=True,
    )

    assert event_types(await hooks.wait_for(3, exactly=True)) == [
        MEM_POOL,
        FUNDS_RECEIVED,
        CREDITED,
    ]


async def test_expiring_a_purse_sends_customer_purse_expired_once_with_purse_data_only(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "TRX")
    await ok(client, "customer/block", {"customerId": customer_id})

    await client.post(f"/sandbox/purses/{purse['id']}/expire")
    await client.post(f"/sandbox/purses/{purse['id']}/expire")  # already expired: no event
    await ok(client, "customer/unblock", {"customerId": customer_id})
    await deposit(client, address=purse["address"], currency="TRX", amount="3")

    received = await hooks.wait_for(2, exactly=True)
    assert event_types(received) == [EXPIRED, MEM_POOL]
    assert parsed(received[0])["data"] == {
        "customerId": customer_id,
        "customerBlocked": True,
        "purseId": purse["id"],
        "address": purse["address"],
    }


# --- what each webhook looks like -------------------------------------------------------------


async def test_sign_is_hmac_sha512_of_the_exact_body_with_the_webhook_secret_and_key_the_api_key(
    client: httpx.AsyncClient, hooks: WebhookReceiver
) -> None:
    await eth_deposit(client)

    (received,) = await hooks.wait_for(1, exactly=True)

    assert received.headers["content-type"] == "application/json"
    assert received.headers["key"] == API_KEY
    assert re.fullmatch(r"[0-9a-f]{128}", received.headers["sign"])
    assert verify(received.body, WEBHOOK_SECRET, received.headers["sign"])
    assert not verify(received.body, API_SECRET, received.headers["sign"])
    assert WEBHOOK_SECRET.encode() not in received.body


async def test_the_body_is_calypsos_envelope_with_an_exact_18_decimal_amount(
    client: httpx.AsyncClient, hooks: WebhookReceiver, running_sandbox: RunningServer
) -> None:
    transaction = await eth_deposit(client)
    await advance(client, transaction["id"])

    first, second = await hooks.wait_for(2, exactly=True)

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
    client: httpx.AsyncClient, hooks: WebhookReceiver, hook_url: str
) -> None:
    await eth_deposit(client)
    (before,) = await hooks.wait_for(1, exactly=True)
    await client.post("/sandbox/reset")
    await client.put("/sandbox/webhooks", json={"url": hook_url, "secret": WEBHOOK_SECRET})

    await eth_deposit(client)

    _, after = await hooks.wait_for(2, exactly=True)
    assert parsed(after)["id"] > parsed(before)["id"]


def test_the_subscription_id_is_reproducible_with_a_seed_and_not_a_customers() -> None:
    assert subscription_id_for(11) == subscription_id_for(11) != subscription_id_for(12)
    assert subscription_id_for(None) != subscription_id_for(None)
    assert subscription_id_for(11).version == 4


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
