"""Bodies of ``/v1/subscriptions``: what a caller sends and what it gets back.

Kept apart from the handlers so that a route reads in a few lines. Secrets appear only in
:class:`SubscriptionWithSecret` (creation) and :class:`RotatedSecret` (rotation).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar.params import KwargDefinition, PathParameter

from bridge.api.schemas import rfc3339_ms
from bridge.delivery.attempts import Attempt
from bridge.delivery.subscriptions import Ordering, Subscription
from bridge.events.model import EventType

__all__ = [
    "AttemptOut",
    "AttemptPageOut",
    "DeadLetterList",
    "DeadLetterOut",
    "EventTypeFilter",
    "Queued",
    "ReplayRequest",
    "RotatedSecret",
    "SubscriptionCreate",
    "SubscriptionId",
    "SubscriptionList",
    "SubscriptionOut",
    "SubscriptionUpdate",
    "SubscriptionWithSecret",
    "TestRequest",
]

SubscriptionId = Annotated[
    str, PathParameter(pattern=r"^sub_[a-z2-7]{24}$", description="Subscription id.")
]
TYPE_PATTERN = r"^(ping|(transaction|customer|deposit_address)\.([a-z_]+|\*))$"
EventTypeFilter = Annotated[
    str,
    msgspec.Meta(
        pattern=TYPE_PATTERN,
        description="An event type, or a family such as `transaction.*`.",
        examples=["transaction.confirmed", "transaction.*"],
    ),
    # Litestar drops msgspec's constraints on list items from the OpenAPI document; this
    # repeats the pattern there, so the spec does not promise that any string is accepted.
    KwargDefinition(
        pattern=TYPE_PATTERN, description="An event type, or a family such as `transaction.*`."
    ),
]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
OrderingField = Annotated[
    Ordering,
    msgspec.Meta(
        description=(
            "`customer`: each customer's events one at a time, in stream order; the next is "
            "sent only after the previous succeeded or became a dead letter, and customers "
            "never wait for each other. `none`: every event as soon as it can go. A change "
            "applies to events that arrive after it."
        )
    ),
]


class SubscriptionCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Url
    eventTypes: list[EventTypeFilter] | None = None
    customerIds: list[uuid.UUID] | None = None
    description: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    ordering: OrderingField = "none"


class SubscriptionUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Url | None = None
    eventTypes: list[EventTypeFilter] | None = None
    customerIds: list[uuid.UUID] | None = None
    description: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    enabled: bool | None = None
    ordering: OrderingField | None = None


class SubscriptionOut(msgspec.Struct, frozen=True):
    id: str
    url: str
    enabled: bool
    createdAt: str
    updatedAt: str
    ordering: OrderingField
    description: str | None = None
    eventTypes: list[str] | None = None
    customerIds: list[str] | None = None
    disabledReason: str | None = None
    failingSince: str | None = None
    owner: Annotated[
        str | None,
        msgspec.Meta(
            description="The name of the token that made it; null if made before owners "
            "were recorded (then only an admin token sees it)."
        ),
    ] = None

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            url=s.url,
            enabled=s.enabled,
            createdAt=rfc3339_ms(s.createdAt),
            updatedAt=rfc3339_ms(s.updatedAt),
            ordering=s.ordering,
            description=s.description,
            eventTypes=s.eventTypes,
            customerIds=s.customerIds,
            disabledReason=s.disabledReason,
            failingSince=None if s.failingSince is None else rfc3339_ms(s.failingSince),
            owner=s.owner,
        )


class SubscriptionWithSecret(SubscriptionOut, frozen=True):
    secret: str = ""

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionWithSecret:
        shown = SubscriptionOut.of(s)
        return cls(**msgspec.structs.asdict(shown), secret=s.secret)


class SubscriptionList(msgspec.Struct, frozen=True):
    items: list[SubscriptionOut]


class RotatedSecret(msgspec.Struct, frozen=True):
    secret: str
    previousSecretExpiresAt: str


class TestRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: EventType = EventType.PING


class Queued(msgspec.Struct, frozen=True):
    queued: int
    eventId: str | None = None


class ReplayRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    since: datetime


class AttemptOut(msgspec.Struct, frozen=True):
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

    @classmethod
    def of(cls, entry_id: str, a: Attempt) -> AttemptOut:
        return cls(
            id=entry_id,
            eventId=a.eventId,
            eventType=a.eventType,
            attempt=a.attempt,
            outcome=a.outcome,
            at=rfc3339_ms(a.at),
            latencyMs=a.latencyMs,
            status=a.status,
            error=a.error,
            response=a.response,
            nextAttemptAt=None if a.nextAttemptAt is None else rfc3339_ms(a.nextAttemptAt),
            test=a.test,
        )


class AttemptPageOut(msgspec.Struct, frozen=True):
    items: list[AttemptOut]
    nextCursor: str | None = None


class DeadLetterOut(msgspec.Struct, frozen=True):
    eventId: str
    eventType: str
    attempts: int
    lastOutcome: str
    at: str


class DeadLetterList(msgspec.Struct, frozen=True):
    items: list[DeadLetterOut]
