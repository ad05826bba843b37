"""Events: their types, the envelope every reader sees, and deterministic ids.

The envelope is the webhook body and the ``event`` field of a stream entry:
``{"id", "type", "createdAt", "account", "data"}``, and ``"test": true`` on a subscription
test. ``data`` is the struct of the type's family (:mod:`bridge.events.payloads`). An event id
is a hash of what the event reports (the transaction, its per-transaction ``sequence`` and the
type), so detecting the same change twice yields the same id and the second copy is
recognised and dropped.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from bridge.calypso import models
from bridge.events.payloads import (
    AddressData,
    CustomerData,
    EventData,
    PingData,
    Previous,
    TransactionData,
)

__all__ = [
    "PAYLOADS",
    "STATE_EVENTS",
    "AccountId",
    "CreatedAt",
    "Event",
    "EventId",
    "EventType",
    "Snapshot",
    "event_id",
    "rfc3339_now",
]


# The envelope's scalar fields, shared by `Event` and the typed envelopes of
# bridge.events.typed, so the published schemas say what the bridge writes.
EventId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^evt_[a-z2-7]{26}$",
        description="Stable across retries and replays; the `webhook-id` header.",
    ),
]
CreatedAt = Annotated[
    str,
    msgspec.Meta(
        description="When the bridge observed the change, RFC 3339 UTC.",
        extra_json_schema={"format": "date-time"},
    ),
]
AccountId = Annotated[
    str,
    msgspec.Meta(pattern=models.ACCOUNT_PATTERN, description="The Calypso account."),
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

    def previous(self) -> Previous:
        """What an event reports as the values before its change."""
        return Previous(self.state, self.compliance, self.credited)

    @property
    def final(self) -> bool:
        """Nothing more can happen: declined, or confirmed and credited."""
        if self.state is models.TransactionState.DECLINED:
            return True
        return self.state is models.TransactionState.CONFIRMED and self.credited


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    """The envelope; ``data`` is the struct of the type's family (see ``PAYLOADS``)."""

    id: EventId
    type: EventType
    createdAt: CreatedAt
    account: AccountId
    data: EventData
    # Only set on subscription tests (`POST /v1/subscriptions/{id}/test`).
    test: bool | None = msgspec.field(default=None)

    def customer_id(self) -> str | None:
        return None if isinstance(self.data, PingData) else self.data.customerId

    def encode(self) -> bytes:
        return _encoder.encode(self)

    @classmethod
    def decode(cls, raw: bytes) -> Event:
        """The envelope first, then ``data`` as its type says: ``data`` carries no tag of
        its own, and a tag in the envelope would be encoded first and change its bytes."""
        envelope = _envelope.decode(raw)
        data = _payloads[envelope.type].decode(envelope.data)
        return cls(
            envelope.id, envelope.type, envelope.createdAt, envelope.account, data, envelope.test
        )


PAYLOADS: dict[EventType, type[EventData]] = {
    EventType.TRANSACTION_MEM_POOL_FOUND: TransactionData,
    EventType.TRANSACTION_PENDING_COMPLIANCE_CHECK: TransactionData,
    EventType.TRANSACTION_CONFIRMED: TransactionData,
    EventType.TRANSACTION_DECLINED: TransactionData,
    EventType.TRANSACTION_COMPLIANCE_UPDATED: TransactionData,
    EventType.TRANSACTION_CREDITED: TransactionData,
    EventType.CUSTOMER_CREATED: CustomerData,
    EventType.CUSTOMER_UPDATED: CustomerData,
    EventType.CUSTOMER_BLOCKED: CustomerData,
    EventType.CUSTOMER_UNBLOCKED: CustomerData,
    EventType.DEPOSIT_ADDRESS_ISSUED: AddressData,
    EventType.DEPOSIT_ADDRESS_EXPIRED: AddressData,
    EventType.PING: PingData,
}


class _Envelope(msgspec.Struct, frozen=True):
    id: str
    type: EventType
    createdAt: str
    account: str
    data: msgspec.Raw
    test: bool | None = None


_encoder = msgspec.json.Encoder()
_envelope = msgspec.json.Decoder(_Envelope)
_payloads: dict[EventType, msgspec.json.Decoder[EventData]] = {
    kind: msgspec.json.Decoder(payload) for kind, payload in PAYLOADS.items()
}


def event_id(*parts: str) -> str:
    """``evt_`` and 26 base32 characters of a hash of what the event reports."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return "evt_" + base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
