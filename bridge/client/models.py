"""What the bridge's API answers, as msgspec structs a caller decodes into.

The views (customer, purse, transaction) and the event envelope are the bridge's own structs
(:mod:`bridge.views`, :mod:`bridge.events.model`, which import msgspec only); the rest mirror
the answers of the committed OpenAPI document. Unknown fields are ignored, so a newer bridge
that adds a field does not break an older client.
"""

from __future__ import annotations

import msgspec

from bridge.events.model import Event, EventType
from bridge.events.payloads import AddressData, CustomerData, PingData, TransactionData
from bridge.views import CustomerView, PurseView, TransactionView

__all__ = [
    "AddressData",
    "Attempt",
    "AttemptPage",
    "AuditEntry",
    "AuditPage",
    "CustomerData",
    "CustomerList",
    "CustomerView",
    "DeadLetter",
    "DeadLetterList",
    "Event",
    "EventPage",
    "EventType",
    "InboundAccepted",
    "PingData",
    "PurseList",
    "PurseView",
    "Queued",
    "RotatedSecret",
    "Subscription",
    "SubscriptionList",
    "SubscriptionWithSecret",
    "TransactionData",
    "TransactionPage",
    "TransactionView",
    "WatchStatus",
]


class CustomerList(msgspec.Struct, frozen=True):
    items: list[CustomerView]


class PurseList(msgspec.Struct, frozen=True):
    items: list[PurseView]


class TransactionPage(msgspec.Struct, frozen=True):
    """One page of a customer's transactions (Calypso pages by number, not cursor)."""

    items: list[TransactionView]
    page: int
    pageSize: int
    totalPages: int
    totalItems: int


class WatchStatus(msgspec.Struct, frozen=True):
    customerId: str
    watched: bool
    since: int | None = None
    reason: str | None = None


class Subscription(msgspec.Struct, frozen=True):
    id: str
    url: str
    enabled: bool
    createdAt: str
    updatedAt: str
    ordering: str
    description: str | None = None
    eventTypes: list[str] | None = None
    customerIds: list[str] | None = None
    disabledReason: str | None = None
    failingSince: str | None = None
    owner: str | None = None


class SubscriptionWithSecret(Subscription, frozen=True):
    """Only the create answer shows the secret in full; keep it out of logs."""

    secret: str = msgspec.field(default="")

    def __repr__(self) -> str:
        return f"SubscriptionWithSecret(id={self.id!r}, url={self.url!r}, secret=<hidden>)"


class SubscriptionList(msgspec.Struct, frozen=True):
    items: list[Subscription]


class RotatedSecret(msgspec.Struct, frozen=True):
    secret: str
    previousSecretExpiresAt: str

    def __repr__(self) -> str:
        expires = self.previousSecretExpiresAt
        return f"RotatedSecret(secret=<hidden>, previousSecretExpiresAt={expires!r})"


class Queued(msgspec.Struct, frozen=True):
    """How many deliveries a test, replay or redeliver queued."""

    queued: int
    eventId: str | None = None


class Attempt(msgspec.Struct, frozen=True):
    id: str
    eventId: str
    eventType: str
    attempt: int
    outcome: str
    at: str
    latencyMs: float
    status: int | None
    error: str | None
    response: str | None
    nextAttemptAt: str | None
    test: bool


class AttemptPage(msgspec.Struct, frozen=True):
    items: list[Attempt]
    nextCursor: str | None = None


class DeadLetter(msgspec.Struct, frozen=True):
    eventId: str
    eventType: str
    attempts: int
    lastOutcome: str
    at: str


class DeadLetterList(msgspec.Struct, frozen=True):
    items: list[DeadLetter]


class AuditEntry(msgspec.Struct, frozen=True):
    id: str
    at: str
    action: str
    token: str
    subscriptionId: str | None = None
    eventId: str | None = None
    queued: int | None = None
    requestId: str | None = None


class AuditPage(msgspec.Struct, frozen=True):
    items: list[AuditEntry]
    nextCursor: str | None = None


class StreamedEvent(msgspec.Struct, frozen=True):
    """An event read from ``GET /v1/events/stream`` with its position: pass ``position`` as
    ``after`` to carry on where it left off."""

    position: str
    event: Event


class EventPage(msgspec.Struct, frozen=True):
    """Events decoded by type (``data`` is the struct of the event's family)."""

    items: list[Event]
    nextCursor: str | None = None


class InboundAccepted(msgspec.Struct, frozen=True):
    customerId: str
    status: str
