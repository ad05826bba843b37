"""One typed envelope per event type: what a reader decodes, and what the catalog publishes.

:class:`bridge.events.model.Event` is what the bridge writes; its ``data`` is a union read by
``type``. Here every type has its own struct, tagged by ``type``, whose ``data`` is that type's
payload (``PAYLOADS``): decoding an event with :func:`decode_typed` gives, say, a
:class:`TransactionConfirmed` whose ``data`` is a ``TransactionData``. The JSON Schemas of the
catalog (:mod:`bridge.events.catalog`) are generated from these structs, and each class's
docstring is its type's description. Only msgspec: the client kit imports this too.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from bridge.events.model import AccountId, CreatedAt, EventId, EventType
from bridge.events.payloads import AddressData, CustomerData, PingData, TransactionData

__all__ = [
    "TYPED_EVENTS",
    "AnyEvent",
    "CustomerBlocked",
    "CustomerCreated",
    "CustomerUnblocked",
    "CustomerUpdated",
    "DepositAddressExpired",
    "DepositAddressIssued",
    "Ping",
    "TransactionComplianceUpdated",
    "TransactionConfirmed",
    "TransactionCredited",
    "TransactionDeclined",
    "TransactionMemPoolFound",
    "TransactionPendingComplianceCheck",
    "TypedEvent",
    "decode_typed",
]

D = TypeVar("D")


class TypedEvent(msgspec.Struct, Generic[D], frozen=True, omit_defaults=True, tag_field="type"):
    """The envelope with ``data`` of one type; the same fields as ``Event`` (tested)."""

    id: EventId
    createdAt: CreatedAt
    account: AccountId
    data: D
    # Only set on subscription tests (`POST /v1/subscriptions/{id}/test`).
    test: bool | None = None


_T = EventType


class TransactionMemPoolFound(
    TypedEvent[TransactionData], frozen=True, tag=_T.TRANSACTION_MEM_POOL_FOUND.value
):
    """A deposit was first seen in the mempool (`transactionState` MEM_POOL_FOUND)."""


class TransactionPendingComplianceCheck(
    TypedEvent[TransactionData], frozen=True, tag=_T.TRANSACTION_PENDING_COMPLIANCE_CHECK.value
):
    """A deposit is first seen in, or moved to, PENDING_COMPLIANCE_CHECK."""


class TransactionConfirmed(
    TypedEvent[TransactionData], frozen=True, tag=_T.TRANSACTION_CONFIRMED.value
):
    """A deposit is first seen in, or moved to, CONFIRMED."""


class TransactionDeclined(
    TypedEvent[TransactionData], frozen=True, tag=_T.TRANSACTION_DECLINED.value
):
    """A deposit is first seen in, or moved to, DECLINED (final)."""


class TransactionComplianceUpdated(
    TypedEvent[TransactionData], frozen=True, tag=_T.TRANSACTION_COMPLIANCE_UPDATED.value
):
    """A deposit's `complianceState` changed while its `transactionState` did not."""


class TransactionCredited(
    TypedEvent[TransactionData], frozen=True, tag=_T.TRANSACTION_CREDITED.value
):
    """A deposit's amount reached the merchant account (`translationToAccountCompleted`)."""


class CustomerCreated(TypedEvent[CustomerData], frozen=True, tag=_T.CUSTOMER_CREATED.value):
    """A customer was created through the bridge's API."""


class CustomerUpdated(TypedEvent[CustomerData], frozen=True, tag=_T.CUSTOMER_UPDATED.value):
    """A customer's email or description was changed through the bridge's API."""


class CustomerBlocked(TypedEvent[CustomerData], frozen=True, tag=_T.CUSTOMER_BLOCKED.value):
    """A customer was blocked through the bridge's API."""


class CustomerUnblocked(TypedEvent[CustomerData], frozen=True, tag=_T.CUSTOMER_UNBLOCKED.value):
    """A customer was unblocked through the bridge's API."""


class DepositAddressIssued(
    TypedEvent[AddressData], frozen=True, tag=_T.DEPOSIT_ADDRESS_ISSUED.value
):
    """A deposit address was handed out through the API; the customer is watched from then on."""


class DepositAddressExpired(
    TypedEvent[AddressData], frozen=True, tag=_T.DEPOSIT_ADDRESS_EXPIRED.value
):
    """Calypso's inbound webhook said a deposit address expired (`currencies` and
    `createdDate` are null: the notice names only the purse and its address)."""


class Ping(TypedEvent[PingData], frozen=True, tag=_T.PING.value):
    """Sent only by a subscription test (`POST /v1/subscriptions/{id}/test` without `type`)."""


AnyEvent = (
    TransactionMemPoolFound
    | TransactionPendingComplianceCheck
    | TransactionConfirmed
    | TransactionDeclined
    | TransactionComplianceUpdated
    | TransactionCredited
    | CustomerCreated
    | CustomerUpdated
    | CustomerBlocked
    | CustomerUnblocked
    | DepositAddressIssued
    | DepositAddressExpired
    | Ping
)

TYPED_EVENTS: dict[EventType, type[AnyEvent]] = {
    EventType.TRANSACTION_MEM_POOL_FOUND: TransactionMemPoolFound,
    EventType.TRANSACTION_PENDING_COMPLIANCE_CHECK: TransactionPendingComplianceCheck,
    EventType.TRANSACTION_CONFIRMED: TransactionConfirmed,
    EventType.TRANSACTION_DECLINED: TransactionDeclined,
    EventType.TRANSACTION_COMPLIANCE_UPDATED: TransactionComplianceUpdated,
    EventType.TRANSACTION_CREDITED: TransactionCredited,
    EventType.CUSTOMER_CREATED: CustomerCreated,
    EventType.CUSTOMER_UPDATED: CustomerUpdated,
    EventType.CUSTOMER_BLOCKED: CustomerBlocked,
    EventType.CUSTOMER_UNBLOCKED: CustomerUnblocked,
    EventType.DEPOSIT_ADDRESS_ISSUED: DepositAddressIssued,
    EventType.DEPOSIT_ADDRESS_EXPIRED: DepositAddressExpired,
    EventType.PING: Ping,
}

_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)


def decode_typed(raw: bytes | str) -> AnyEvent:
    """The event as its type's struct; ``msgspec.ValidationError`` when it is not one."""
    return _decoder.decode(raw)
