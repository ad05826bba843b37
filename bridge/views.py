"""How the bridge shows Calypso's objects: one view each, in API answers and event payloads.

A view is what a client of the bridge sees of a transaction, a customer or a deposit address
(a Calypso "purse"), wherever it sees it: ``GET /v1/transactions/{id}`` answers the same
struct that a ``transaction.confirmed`` event carries. Field names are camelCase as upstream,
so a team that knows Calypso recognises them; amounts leave as decimal strings, never JSON
numbers (a float would round them).

An API answer names the customer inside the view; an event names it once beside the view
(``data.customerId``), so there the view's ``customerId`` is left unset and not encoded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from bridge.calypso import models

__all__ = ["AmountString", "CustomerView", "PurseView", "TransactionView", "amount_string"]

AmountString = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^-?\d+(\.\d+)?$",
        description="Exact decimal amount as a string; never rounded through a float.",
        examples=["0.123456789012345678"],
    ),
]


def amount_string(amount: Decimal) -> str:
    """Plain notation always (``1E-7`` would surprise every receiver)."""
    return format(amount, "f")


class TransactionView(msgspec.Struct, frozen=True):
    """A deposit to one of the customer's addresses, as Calypso last reported it."""

    id: str
    amount: AmountString
    currency: str
    addressFrom: str
    transactionState: models.TransactionState
    complianceState: models.ComplianceState
    translationToAccountCompleted: bool
    createdDate: str
    transactionHash: str | None = None
    # The API answers null when it looked the transaction up by id alone.
    customerId: str | UnsetType | None = UNSET

    @classmethod
    def of(
        cls, tx: models.Transaction, customer_id: str | UnsetType | None = UNSET
    ) -> TransactionView:
        return cls(
            id=tx.id,
            amount=amount_string(tx.amount),
            currency=tx.currency,
            addressFrom=tx.addressFrom,
            transactionState=tx.transactionState,
            complianceState=tx.complianceState,
            translationToAccountCompleted=tx.translationToAccountCompleted,
            createdDate=tx.createdDate,
            transactionHash=tx.transactionHash,
            customerId=customer_id,
        )


class CustomerView(msgspec.Struct, frozen=True):
    id: str
    blocked: bool
    externalId: str | None = None
    email: str | None = None
    description: str | None = None

    @classmethod
    def of(cls, customer: models.Customer) -> CustomerView:
        return cls(
            id=customer.id,
            blocked=customer.blocked,
            externalId=customer.externalId,
            email=customer.email,
            description=customer.description,
        )


class PurseView(msgspec.Struct, frozen=True, kw_only=True):
    """A deposit address, shared by every currency of its network.

    `currencies` and `createdDate` are null only in a `deposit_address.expired` event:
    Calypso's expiry notice names just the purse and its address.
    """

    id: str
    customerId: str | UnsetType = UNSET
    address: str
    currencies: list[str] | None
    createdDate: str | None

    @classmethod
    def of(cls, purse: models.Purse, customer_id: str | UnsetType = UNSET) -> PurseView:
        return cls(
            id=purse.id,
            customerId=customer_id,
            address=purse.address,
            currencies=purse.currencies,
            createdDate=purse.createdDate,
        )

    @classmethod
    def expired(cls, purse_id: str, address: str) -> PurseView:
        return cls(id=purse_id, address=address, currencies=None, createdDate=None)
