"""Sample events for ``POST /v1/subscriptions/{id}/test``, marked ``"test": true``.

They have the exact shape of real ones, so a receiver can exercise every handler without a
deposit; each gets a fresh id, since a test is an action, not a fact.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from bridge.calypso import models
from bridge.events.model import STATE_EVENTS, Event, EventType, event_id, rfc3339_now
from bridge.events.payloads import (
    AddressData,
    CustomerData,
    EventData,
    PingData,
    Previous,
    TransactionData,
)
from bridge.views import CustomerView, PurseView, TransactionView, amount_string

__all__ = ["example_event", "sample_event"]

_CUSTOMER = "00000000-0000-4000-8000-000000000001"
# The catalog's examples are fixed, so the committed OpenAPI document stays reproducible.
_EXAMPLE_ACCOUNT = "0x" + "5a" * 20
_EXAMPLE_SUBSCRIPTION = "sub_" + "a" * 24
_EXAMPLE_TIME = "2026-01-01T00:00:00.000Z"
_STATE_OF = {kind: state for state, kind in STATE_EVENTS.items()}


def sample_event(account: str, kind: EventType, subscription_id: str) -> Event:
    return Event(
        id=event_id(account, subscription_id, kind, secrets.token_hex(8)),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=_data(kind, subscription_id),
        test=True,
    )


def example_event(kind: EventType) -> Event:
    """The sample of ``kind`` as the catalog shows it: a fixed id and time, no ``test``."""
    return Event(
        id=event_id("example", kind),
        type=kind,
        createdAt=_EXAMPLE_TIME,
        account=_EXAMPLE_ACCOUNT,
        data=_data(kind, _EXAMPLE_SUBSCRIPTION),
    )


def _data(kind: EventType, subscription_id: str) -> EventData:
    if kind is EventType.PING:
        return PingData(subscription_id, "ping from calypso-bridge")
    if kind.value.startswith("customer."):
        blocked = kind is EventType.CUSTOMER_BLOCKED
        return CustomerData(_CUSTOMER, CustomerView(_CUSTOMER, blocked, "sample-42"))
    if kind.value.startswith("deposit_address."):
        purse = PurseView(
            id="00000000-0000-4000-8000-000000000002",
            address="0x00000000000000000000000000000000000000aa",
            currencies=["ETH", "USDT_ERC20", "USDC_ERC20"],
            createdDate="2026-01-01T00:00:00Z",
        )
        return AddressData(_CUSTOMER, purse)
    state = _STATE_OF.get(kind, models.TransactionState.CONFIRMED)
    credited = kind is EventType.TRANSACTION_CREDITED
    compliance = {
        models.TransactionState.MEM_POOL_FOUND: models.ComplianceState.UNCHECKED,
        models.TransactionState.PENDING_COMPLIANCE_CHECK: models.ComplianceState.IN_PROGRESS,
        models.TransactionState.CONFIRMED: models.ComplianceState.CHECKED,
        models.TransactionState.DECLINED: models.ComplianceState.DECLINE,
    }[state]
    transaction = TransactionView(
        id="00000000-0000-4000-8000-000000000003",
        amount=amount_string(Decimal("0.123456789012345678")),
        currency="ETH",
        addressFrom="0x00000000000000000000000000000000000000bb",
        transactionState=state,
        complianceState=compliance,
        translationToAccountCompleted=credited,
        createdDate="2026-01-01T00:00:00Z",
        transactionHash="0x" + "ab" * 32,
    )
    previous = Previous(
        models.TransactionState.PENDING_COMPLIANCE_CHECK
        if state is not models.TransactionState.MEM_POOL_FOUND
        else models.TransactionState.MEM_POOL_FOUND,
        models.ComplianceState.IN_PROGRESS,
        False,
    )
    first = state is models.TransactionState.MEM_POOL_FOUND
    return TransactionData(_CUSTOMER, transaction, None if first else previous, 1 if first else 2)
