"""What an event reports: the `data` of the envelope, one struct per family of types.

Every family but `ping` names the customer it concerns in `customerId`, beside the view
of the object (the views of :mod:`bridge.views`, the same the API answers with). Which
struct a `data` is follows from the envelope's `type` (see :mod:`bridge.events.model`).
"""

from __future__ import annotations

import msgspec

from bridge.calypso import models
from bridge.views import CustomerView, PurseView, TransactionView

__all__ = [
    "AddressData",
    "CustomerData",
    "EventData",
    "PingData",
    "Previous",
    "TransactionData",
]


class Previous(msgspec.Struct, frozen=True):
    """The last observed values, carried by an event so receivers can spot stale ones."""

    transactionState: models.TransactionState
    complianceState: models.ComplianceState
    translationToAccountCompleted: bool


class TransactionData(msgspec.Struct, frozen=True):
    """`transaction.*`: `sequence` counts the transaction's events from 1, so a receiver
    can order them and notice a gap; `previous` is null on the first."""

    customerId: str
    transaction: TransactionView
    previous: Previous | None
    sequence: int


class CustomerData(msgspec.Struct, frozen=True):
    """`customer.*`: the customer as it is after the change."""

    customerId: str
    customer: CustomerView


class AddressData(msgspec.Struct, frozen=True):
    """`deposit_address.issued` and `deposit_address.expired`."""

    customerId: str
    purse: PurseView


class PingData(msgspec.Struct, frozen=True):
    """`ping`: only ever sent as a subscription test; concerns no customer."""

    subscriptionId: str
    message: str


EventData = TransactionData | CustomerData | AddressData | PingData
