"""Building events: one function per kind of fact, ids chosen so repeats dedupe.

A transition's id depends on the transaction, its sequence number and the type; an issued
or expired address's on the purse; a created customer's on the customer. Updates, blocks and
unblocks are actions, not states, so each request gets an id of its own.
"""

from __future__ import annotations

import secrets

import msgspec

from bridge.calypso import models
from bridge.events.model import (
    Event,
    EventType,
    Previous,
    Snapshot,
    TransactionData,
    TransactionView,
    event_id,
    rfc3339_now,
)

__all__ = [
    "AddressData",
    "CustomerData",
    "address_expired",
    "address_issued",
    "customer_event",
    "transaction_events",
]


class CustomerView(msgspec.Struct, frozen=True):
    id: str
    blocked: bool
    externalId: str | None = None
    email: str | None = None
    description: str | None = None


class CustomerData(msgspec.Struct, frozen=True):
    customerId: str
    customer: CustomerView


class PurseView(msgspec.Struct, frozen=True):
    id: str
    address: str
    currencies: list[str] | None = None
    createdDate: str | None = None


class AddressData(msgspec.Struct, frozen=True):
    customerId: str
    purse: PurseView


def transaction_events(
    account: str,
    customer_id: str,
    tx: models.Transaction,
    previous: Snapshot | None,
    types: tuple[EventType, ...],
) -> list[Event]:
    view = TransactionView.of(tx)
    before = Previous.of(previous) if previous else None
    first = (previous.sequence if previous else 0) + 1
    created = rfc3339_now()
    return [
        Event(
            id=event_id(account, tx.id, str(sequence), kind),
            type=kind,
            createdAt=created,
            account=account,
            data=TransactionData(customer_id, view, before, sequence),
        )
        for sequence, kind in enumerate(types, start=first)
    ]


def customer_event(account: str, kind: EventType, customer: models.Customer) -> Event:
    once = kind is EventType.CUSTOMER_CREATED
    identity = (account, customer.id, kind) if once else (account, customer.id, kind, _nonce())
    view = CustomerView(
        customer.id, customer.blocked, customer.externalId, customer.email, customer.description
    )
    return Event(
        id=event_id(*identity),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=CustomerData(customer.id, view),
    )


def address_issued(account: str, customer_id: str, purse: models.Purse) -> Event:
    kind = EventType.DEPOSIT_ADDRESS_ISSUED
    view = PurseView(purse.id, purse.address, purse.currencies, purse.createdDate)
    return Event(
        id=event_id(account, purse.id, kind),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=AddressData(customer_id, view),
    )


def address_expired(account: str, customer_id: str, purse_id: str, address: str) -> Event:
    kind = EventType.DEPOSIT_ADDRESS_EXPIRED
    return Event(
        id=event_id(account, purse_id, kind),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=AddressData(customer_id, PurseView(purse_id, address)),
    )


def _nonce() -> str:
    return secrets.token_hex(8)
