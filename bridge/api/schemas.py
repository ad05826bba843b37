"""Request and response bodies of the internal API.

Field names are camelCase as upstream, so a team that knows Calypso recognises them. The
constraints here are checked before anything reaches Calypso; they repeat the published
spec's limits so a request that would be refused upstream is refused here with a clear
problem document instead. Amounts leave as decimal strings, never JSON numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from bridge.calypso import models

__all__ = [
    "CURRENCY_PATTERN",
    "AddressRequest",
    "CustomerCreateRequest",
    "CustomerList",
    "CustomerOut",
    "CustomerUpdateRequest",
    "PurseList",
    "PurseOut",
    "TransactionOut",
    "TransactionPageOut",
    "WatchStatus",
]

# No whitespace or control characters. Python's \s (what msgspec checks) and ECMA-262's (what
# the OpenAPI pattern means to clients) differ; together with the control ranges and U+FEFF
# they name the same set, so the spec and the check agree on every string.
_EMAIL_CHAR = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]"
Email = Annotated[
    str,
    msgspec.Meta(
        max_length=254,
        pattern=rf"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+$",
        description="An email address.",
        examples=["ada@example.com"],
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
ExternalId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        description="Your own id for the customer; creating twice with it returns the first.",
        examples=["user-42"],
    ),
]
CURRENCY_PATTERN = r"^[A-Z0-9_]{2,20}$"
Currency = Annotated[
    str,
    msgspec.Meta(
        pattern=CURRENCY_PATTERN,
        description="Currency ticker as Calypso names it.",
        examples=["BTC", "ETH", "USDT_TRC20"],
    ),
]
AmountString = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^-?\d+(\.\d+)?$",
        description="Exact decimal amount as a string; never rounded through a float.",
        examples=["0.123456789012345678"],
    ),
]


class CustomerCreateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    externalId: ExternalId | None = None
    email: Email | None = None
    description: Description | None = None


class CustomerUpdateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email | None = None
    description: Description | None = None


class AddressRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    currency: Currency


class CustomerOut(msgspec.Struct, frozen=True):
    id: str
    blocked: bool
    externalId: str | None = None
    email: str | None = None
    description: str | None = None

    @classmethod
    def of(cls, customer: models.Customer) -> CustomerOut:
        return cls(
            id=customer.id,
            blocked=customer.blocked,
            externalId=customer.externalId,
            email=customer.email,
            description=customer.description,
        )


class CustomerList(msgspec.Struct, frozen=True):
    items: list[CustomerOut]


class PurseOut(msgspec.Struct, frozen=True):
    id: str
    customerId: str
    address: str
    currencies: list[str]
    createdDate: str

    @classmethod
    def of(cls, purse: models.Purse, customer_id: str) -> PurseOut:
        return cls(
            id=purse.id,
            customerId=customer_id,
            address=purse.address,
            currencies=purse.currencies,
            createdDate=purse.createdDate,
        )


class PurseList(msgspec.Struct, frozen=True):
    items: list[PurseOut]


def rfc3339_ms(unix_ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC, the way every time leaves the API."""
    moment = datetime.fromtimestamp(unix_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def amount_string(amount: Decimal) -> str:
    """Plain notation always (``1E-7`` would surprise every receiver)."""
    return format(amount, "f")


class TransactionOut(msgspec.Struct, frozen=True):
    id: str
    amount: AmountString
    currency: str
    addressFrom: str
    transactionState: models.TransactionState
    complianceState: models.ComplianceState
    translationToAccountCompleted: bool
    createdDate: str
    transactionHash: str | None = None
    customerId: str | None = None

    @classmethod
    def of(cls, tx: models.Transaction, customer_id: str | None = None) -> TransactionOut:
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


class TransactionPageOut(msgspec.Struct, frozen=True):
    items: list[TransactionOut]
    page: int
    pageSize: int
    totalPages: int
    totalItems: int


class WatchStatus(msgspec.Struct, frozen=True):
    customerId: str
    watched: bool
    since: int | None = msgspec.field(default=None)
    reason: str | None = None
