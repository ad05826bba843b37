"""Wire models of Calypso's Customer Purse API, one struct per schema of the published spec.

Both sides use them: the client encodes requests and decodes responses with them, and the
sandbox validates what it receives with the same constraints the spec declares (account
pattern, uuid formats, string lengths, required fields). Each struct names the spec schema it
mirrors. Amounts are ``Decimal``: msgspec decodes a JSON number into ``Decimal`` from its exact
text, so an 18-decimal ETH amount never passes through a float.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

__all__ = [
    "ACCOUNT_PATTERN",
    "ByCustomerId",
    "ByExternalId",
    "ByTransactionId",
    "ComplianceState",
    "Customer",
    "CustomerCreate",
    "CustomerList",
    "CustomerUpdate",
    "Envelope",
    "ErrorResponse",
    "Purse",
    "PurseAddressRequest",
    "PurseList",
    "SortDirection",
    "StringFilter",
    "Transaction",
    "TransactionPage",
    "TransactionSearch",
    "TransactionState",
    "TransactionStateFilter",
]

ACCOUNT_PATTERN = "^0x[0-9a-fA-F]{40}$"

Account = Annotated[str, msgspec.Meta(pattern=ACCOUNT_PATTERN)]
Description = Annotated[str, msgspec.Meta(min_length=0, max_length=1000)]
ExternalId = Annotated[str, msgspec.Meta(min_length=0, max_length=255)]


class TransactionState(StrEnum):
    MEM_POOL_FOUND = "MEM_POOL_FOUND"
    PENDING_COMPLIANCE_CHECK = "PENDING_COMPLIANCE_CHECK"
    CONFIRMED = "CONFIRMED"
    DECLINED = "DECLINED"


class ComplianceState(StrEnum):
    UNCHECKED = "UNCHECKED"
    IN_PROGRESS = "IN_PROGRESS"
    DECLINE = "DECLINE"
    CHECKED = "CHECKED"


SortDirection = Literal["ASC", "DESC"]

P = TypeVar("P")


class Envelope(msgspec.Struct, Generic[P], frozen=True, forbid_unknown_fields=False):
    """``WithAccountContainer*``: every request body is this envelope around a payload."""

    account: Account
    timestamp: int
    payload: P


class ByCustomerId(msgspec.Struct, frozen=True):
    """``ByCustomerIdRequestDTO``."""

    customerId: uuid.UUID


class ByTransactionId(msgspec.Struct, frozen=True):
    """``ByTransactionIdRequestDTO``."""

    transactionId: uuid.UUID


class ByExternalId(msgspec.Struct, frozen=True):
    """``ByExternalIdRequestDTO``."""

    externalId: str


class CustomerCreate(msgspec.Struct, frozen=True, omit_defaults=True):
    """``PGCustomerCreateDTO``: every field is optional upstream."""

    email: str | None = None
    description: Description | None = None
    externalId: ExternalId | None = None


class CustomerUpdate(msgspec.Struct, frozen=True, omit_defaults=True):
    """``PGCustomerUpdateDTO``: absent fields are left as they are."""

    id: uuid.UUID
    email: str | None = None
    description: Description | None = None


class PurseAddressRequest(msgspec.Struct, frozen=True):
    """``GetPurseAddressRequestDTO``."""

    customerId: uuid.UUID
    currency: str


class StringFilter(msgspec.Struct, frozen=True, omit_defaults=True):
    """``StringFilter``: Calypso's generic criteria object."""

    equals: str | None = None
    notEquals: str | None = None
    specified: bool | None = None
    # ``in`` is a keyword in Python; the wire name is kept through ``name=``.
    in_: list[str] | None = msgspec.field(default=None, name="in")
    notIn: list[str] | None = None
    contains: str | None = None
    doesNotContain: str | None = None


class TransactionStateFilter(msgspec.Struct, frozen=True, omit_defaults=True):
    """``FilterPurseTransactionState``."""

    equals: TransactionState | None = None
    notEquals: TransactionState | None = None
    specified: bool | None = None
    in_: list[TransactionState] | None = msgspec.field(default=None, name="in")
    notIn: list[TransactionState] | None = None


class TransactionSearch(msgspec.Struct, frozen=True, omit_defaults=True):
    """``PGTransactionSearchDTO``: paging starts at 1; ``properties`` names the sort field."""

    customerId: uuid.UUID
    pageNumber: int
    pageSize: int
    sort: SortDirection
    properties: str
    currencyFilter: StringFilter | None = None
    transactionStateFilter: TransactionStateFilter | None = None


class Customer(msgspec.Struct, frozen=True, omit_defaults=True):
    """``PGCustomerDTO``."""

    id: str
    blocked: bool
    email: str | None = None
    description: str | None = None
    externalId: str | None = None


class CustomerList(msgspec.Struct, frozen=True):
    """``PGCustomerListDTO``: external ids are not unique upstream, hence a list."""

    customers: list[Customer]


class Purse(msgspec.Struct, frozen=True):
    """``PGPurseDTO``: one deposit address, shared by every currency of its network."""

    id: str
    address: str
    currencies: list[str]
    createdDate: str


class PurseList(msgspec.Struct, frozen=True):
    """``PGPursesDTO``."""

    purses: list[Purse]


class Transaction(msgspec.Struct, frozen=True, omit_defaults=True):
    """``PGTransactionDTO``."""

    id: str
    amount: Decimal
    addressFrom: str
    currency: str
    transactionState: TransactionState
    complianceState: ComplianceState
    translationToAccountCompleted: bool
    createdDate: str
    transactionHash: str | None = None


class TransactionPage(msgspec.Struct, frozen=True):
    """``PageDTOPGTransactionDTO``: ``total`` counts pages, ``totalElements`` transactions."""

    result: list[Transaction]
    page: int
    size: int
    total: int
    totalElements: int


class ErrorResponse(msgspec.Struct, frozen=True):
    """``PublicGatewayErrorResponse``; some documented examples omit ``traceId``."""

    errorCode: str
    message: str
    traceId: str | None = None
