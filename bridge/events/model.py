"""Events: their types, the envelope every reader sees, and deterministic ids.

The envelope is the webhook body and the ``event`` field of a stream entry:
``{"id", "type", "createdAt", "account", "data"}``. An event id is a hash of what the event
reports (the transaction, its per-transaction ``sequence`` and the type), so detecting the same
change twice yields the same id and the second copy is recognised and dropped.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec

from bridge.calypso import models

__all__ = [
    "STATE_EVENTS",
    "Event",
    "EventType",
    "Previous",
    "Snapshot",
    "TransactionData",
    "TransactionView",
    "event_id",
    "rfc3339_now",
]


class EventType(StrEnum):
    TRANSACTION_MEM_POOL_FOUND = "transaction.mem_pool_found"
    TRANSACTION_PENDING_COMPLIANCE_CHECK = "transaction.pending_compliance_check"
    TRANSACTION_CONFIRMED = "transaction.confirmed"
    TRANSACTION_DECLINED = "transaction.declined"
    TRANSACTION_COMPLIANCE_UPDATED = "transaction.compliance_updated"
    TRANSACTION_CREDITED = "transaction.credited"
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    CUSTOMER_BLOCKED = "customer.blocked"
    CUSTOMER_UNBLOCKED = "customer.unblocked"
    DEPOSIT_ADDRESS_ISSUED = "deposit_address.issued"
    DEPOSIT_ADDRESS_EXPIRED = "deposit_address.expired"
    PING = "ping"


STATE_EVENTS: dict[models.TransactionState, EventType] = {
    models.TransactionState.MEM_POOL_FOUND: EventType.TRANSACTION_MEM_POOL_FOUND,
    models.TransactionState.PENDING_COMPLIANCE_CHECK: (
        EventType.TRANSACTION_PENDING_COMPLIANCE_CHECK
    ),
    models.TransactionState.CONFIRMED: EventType.TRANSACTION_CONFIRMED,
    models.TransactionState.DECLINED: EventType.TRANSACTION_DECLINED,
}


class Snapshot(msgspec.Struct, frozen=True, array_like=True):
    """What the bridge last observed of a transaction, and how many events it has had.

    Stored per transaction in Redis (compact array form); its exact bytes are the
    compare-and-set token of the atomic step that records a change with its events.
    """

    state: models.TransactionState
    compliance: models.ComplianceState
    credited: bool
    sequence: int

    @classmethod
    def decode(cls, raw: bytes) -> Snapshot:
        return msgspec.json.decode(raw, type=cls)

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @property
    def final(self) -> bool:
        """Nothing more can happen: declined, or confirmed and credited."""
        if self.state is models.TransactionState.DECLINED:
            return True
        return self.state is models.TransactionState.CONFIRMED and self.credited


class Previous(msgspec.Struct, frozen=True):
    """The last observed values, carried by an event so receivers can spot stale ones."""

    transactionState: models.TransactionState
    complianceState: models.ComplianceState
    translationToAccountCompleted: bool

    @classmethod
    def of(cls, snapshot: Snapshot) -> Previous:
        return cls(snapshot.state, snapshot.compliance, snapshot.credited)


class TransactionView(msgspec.Struct, frozen=True):
    """A transaction as events show it: the amount as an exact decimal string."""

    id: str
    amount: str
    currency: str
    addressFrom: str
    transactionState: models.TransactionState
    complianceState: models.ComplianceState
    translationToAccountCompleted: bool
    createdDate: str
    transactionHash: str | None = None

    @classmethod
    def of(cls, tx: models.Transaction) -> TransactionView:
        return cls(
            id=tx.id,
            amount=format(tx.amount, "f"),
            currency=tx.currency,
            addressFrom=tx.addressFrom,
            transactionState=tx.transactionState,
            complianceState=tx.complianceState,
            translationToAccountCompleted=tx.translationToAccountCompleted,
            createdDate=tx.createdDate,
            transactionHash=tx.transactionHash,
        )


class TransactionData(msgspec.Struct, frozen=True):
    customerId: str
    transaction: TransactionView
    previous: Previous | None
    sequence: int


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    type: str
    createdAt: str
    account: str
    data: Any
    # Only set on subscription tests (`POST /v1/subscriptions/{id}/test`).
    test: bool | None = msgspec.field(default=None)

    def customer_id(self) -> str | None:
        data = self.data
        customer = getattr(data, "customerId", None)
        if customer is None and isinstance(data, dict):
            customer = data.get("customerId")
        return None if customer is None else str(customer)


def event_id(*parts: str) -> str:
    """``evt_`` and 26 base32 characters of a hash of what the event reports."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return "evt_" + base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
