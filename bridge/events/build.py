"""Building events: one function per kind of fact, ids chosen so repeats dedupe.

A transition's id depends on the transaction, its sequence number and the type; an issued
or expired address's on the purse; a created customer's on the customer. Updates, blocks and
unblocks are actions, not states: their id depends on the intent of the request that made
them (bridge.intents), so the request and a recovery of its intent write one event.
"""

from __future__ import annotations

import secrets

from bridge.calypso import models
from bridge.events.model import Event, EventType, Snapshot, event_id, rfc3339_now
from bridge.events.payloads import AddressData, CustomerData, TransactionData
from bridge.views import CustomerView, PurseView, TransactionView

__all__ = [
    "address_expired",
    "address_issued",
    "customer_event",
    "transaction_events",
]


def transaction_events(
    account: str,
    customer_id: str,
    tx: models.Transaction,
    previous: Snapshot | None,
    types: tuple[EventType, ...],
) -> list[Event]:
    view = TransactionView.of(tx)
    before = previous.previous() if previous else None
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


def customer_event(
    account: str, kind: EventType, customer: models.Customer, intent: str | None = None
) -> Event:
    """``intent``: the id of the request's intent; an action without one is its own event."""
    once = kind is EventType.CUSTOMER_CREATED
    action = intent or _nonce()
    identity = (account, customer.id, kind) if once else (account, customer.id, kind, action)
    return Event(
        id=event_id(*identity),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=CustomerData(customer.id, CustomerView.of(customer)),
    )


def address_issued(account: str, customer_id: str, purse: models.Purse) -> Event:
    kind = EventType.DEPOSIT_ADDRESS_ISSUED
    return Event(
        id=event_id(account, purse.id, kind),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=AddressData(customer_id, PurseView.of(purse)),
    )


def address_expired(account: str, customer_id: str, purse_id: str, address: str) -> Event:
    kind = EventType.DEPOSIT_ADDRESS_EXPIRED
    return Event(
        id=event_id(account, purse_id, kind),
        type=kind,
        createdAt=rfc3339_now(),
        account=account,
        data=AddressData(customer_id, PurseView.expired(purse_id, address)),
    )


def _nonce() -> str:
    return secrets.token_hex(8)
