"""Which state changes Calypso announces with a purse webhook, and how that webhook reads.

Calypso documents six ``CUSTOMER_PURSE_*`` events. A transaction announces the state it
reaches (so a deposit created directly in CONFIRMED announces only that) and, separately,
being credited to the merchant's account; a compliance-only change announces nothing, as
Calypso has no event for it. The body mirrors Calypso's envelope, including its quirks:
``requestId`` names the subscription rather than the event, ``createdDate`` carries no zone,
and ``amount`` is a JSON number with every decimal.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

import msgspec

from bridge.calypso.models import TransactionState
from bridge.sandbox.records import CustomerRecord, PurseRecord, TransactionRecord

__all__ = [
    "PurseEventData",
    "PurseEventListener",
    "PurseEventType",
    "PurseWebhook",
    "transaction_events",
]


class PurseEventType(StrEnum):
    CUSTOMER_PURSE_EXPIRED = "CUSTOMER_PURSE_EXPIRED"
    CUSTOMER_PURSE_MEM_POOL_FOUND = "CUSTOMER_PURSE_MEM_POOL_FOUND"
    CUSTOMER_PURSE_PENDING_COMPLIANCE = "CUSTOMER_PURSE_PENDING_COMPLIANCE"
    CUSTOMER_PURSE_COMPLIANCE_DECLINED = "CUSTOMER_PURSE_COMPLIANCE_DECLINED"
    CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE = "CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE"
    CUSTOMER_PURSE_TRANSLATION_TO_ACCOUNT_COMPLETED = (
        "CUSTOMER_PURSE_TRANSLATION_TO_ACCOUNT_COMPLETED"
    )


_STATE_EVENTS = MappingProxyType(
    {
        TransactionState.MEM_POOL_FOUND: PurseEventType.CUSTOMER_PURSE_MEM_POOL_FOUND,
        TransactionState.PENDING_COMPLIANCE_CHECK: (
            PurseEventType.CUSTOMER_PURSE_PENDING_COMPLIANCE
        ),
        TransactionState.CONFIRMED: PurseEventType.CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE,
        TransactionState.DECLINED: PurseEventType.CUSTOMER_PURSE_COMPLIANCE_DECLINED,
    }
)


class PurseEventListener(Protocol):
    """Told synchronously about each event, inside the state change that caused it."""

    def __call__(
        self,
        event_type: PurseEventType,
        customer: CustomerRecord,
        purse: PurseRecord,
        transaction: TransactionRecord | None,
    ) -> None: ...


def transaction_events(
    before: TransactionState | None, was_credited: bool, after: TransactionRecord
) -> list[PurseEventType]:
    """The events one change announces, in order; ``before`` is ``None`` for a new deposit."""
    events: list[PurseEventType] = []
    if after.state is not before:
        events.append(_STATE_EVENTS[after.state])
    if after.credited and not was_credited:
        events.append(PurseEventType.CUSTOMER_PURSE_TRANSLATION_TO_ACCOUNT_COMPLETED)
    return events


class PurseEventData(msgspec.Struct, frozen=True, omit_defaults=True):
    """``data``: the transaction fields appear only on transaction events."""

    customerId: str
    customerBlocked: bool
    purseId: str
    address: str
    transactionId: str | None = None
    currency: str | None = None
    amount: Decimal | None = None

    @classmethod
    def of(
        cls,
        customer: CustomerRecord,
        purse: PurseRecord,
        transaction: TransactionRecord | None,
    ) -> PurseEventData:
        if transaction is None:
            return cls(str(customer.id), customer.blocked, str(purse.id), purse.address)
        return cls(
            str(customer.id),
            customer.blocked,
            str(purse.id),
            purse.address,
            transactionId=str(transaction.id),
            currency=transaction.currency,
            amount=transaction.amount,
        )


class PurseWebhook(msgspec.Struct, frozen=True):
    """The body Calypso posts; encode with ``decimal_format="number"``."""

    requestId: str
    id: int
    createdDate: str
    level: str
    service: str
    eventType: PurseEventType
    data: PurseEventData
