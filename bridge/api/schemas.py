"""Request and response bodies of the internal API.

Field names are camelCase as upstream, so a team that knows Calypso recognises them. The
constraints here are checked before anything reaches Calypso; they repeat the published
spec's limits so a request that would be refused upstream is refused here with a clear
problem document instead. Answers hold the views of :mod:`bridge.views`, the same structs
the events carry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec

from bridge.views import CustomerView, PurseView, TransactionView

__all__ = [
    "CURRENCY_PATTERN",
    "AddressRequest",
    "CustomerCreateRequest",
    "CustomerList",
    "CustomerUpdateRequest",
    "PurseList",
    "TransactionPageOut",
    "WatchStatus",
    "rfc3339_ms",
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


class CustomerCreateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    externalId: ExternalId | None = None
    email: Email | None = None
    description: Description | None = None


class CustomerUpdateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email | None = None
    description: Description | None = None


class AddressRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    currency: Currency


class CustomerList(msgspec.Struct, frozen=True):
    items: list[CustomerView]


class PurseList(msgspec.Struct, frozen=True):
    items: list[PurseView]


def rfc3339_ms(unix_ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC, the way every time leaves the API."""
    moment = datetime.fromtimestamp(unix_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TransactionPageOut(msgspec.Struct, frozen=True):
    items: list[TransactionView]
    page: int
    pageSize: int
    totalPages: int
    totalItems: int


class WatchStatus(msgspec.Struct, frozen=True):
    customerId: str
    watched: bool
    since: int | None = msgspec.field(default=None)
    reason: str | None = None
