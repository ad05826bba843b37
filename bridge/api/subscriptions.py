"""``/v1/subscriptions``: webhook endpoints, their secrets, tests, attempt log and recovery."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, KwargDefinition, PathParameter, QueryParameter

from bridge.api.params import Cursor, before_first_entry
from bridge.api.problems import ProblemError, problems
from bridge.api.schemas import rfc3339_ms
from bridge.api.services import ServicesDep
from bridge.delivery.attempts import Attempt
from bridge.delivery.queue import DeliveryState
from bridge.delivery.replay import REPLAY_LIMIT
from bridge.delivery.ssrf import UrlRefused
from bridge.delivery.subscriptions import Subscription
from bridge.events.model import EventType
from bridge.events.samples import sample_event
from bridge.wiring import Components

__all__ = ["SubscriptionController"]

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


class SubscriptionCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Url
    eventTypes: list[EventTypeFilter] | None = None
    customerIds: list[uuid.UUID] | None = None
    description: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class SubscriptionUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Url | None = None
    eventTypes: list[EventTypeFilter] | None = None
    customerIds: list[uuid.UUID] | None = None
    description: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    enabled: bool | None = None


class SubscriptionOut(msgspec.Struct, frozen=True):
    id: str
    url: str
    enabled: bool
    createdAt: str
    updatedAt: str
    description: str | None = None
    eventTypes: list[str] | None = None
    customerIds: list[str] | None = None
    disabledReason: str | None = None
    failingSince: str | None = None

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            url=s.url,
            enabled=s.enabled,
            createdAt=rfc3339_ms(s.createdAt),
            updatedAt=rfc3339_ms(s.updatedAt),
            description=s.description,
            eventTypes=s.eventTypes,
            customerIds=s.customerIds,
            disabledReason=s.disabledReason,
            failingSince=None if s.failingSince is None else rfc3339_ms(s.failingSince),
        )


class SubscriptionWithSecret(SubscriptionOut, frozen=True):
    secret: str = ""


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


async def _existing(services: Components, subscription_id: str) -> Subscription:
    subscription = await services.subscriptions.get(subscription_id)
    if subscription is None:
        raise ProblemError(404, "not_found", "No such subscription")
    return subscription


async def _checked_url(services: Components, url: str) -> str:
    try:
        return await services.url_policy.check_url(url)
    except UrlRefused as exc:
        raise ProblemError(
            422, "url_refused", "This URL cannot receive webhooks", str(exc)
        ) from None


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ("subscriptions",)

    @post(
        "/",
        status_code=201,
        summary="Subscribe a URL to events",
        description=(
            "The answer carries the signing `secret` (`whsec_…`); it is shown only here and on "
            "rotation. The URL is checked at once: https (unless http is allowed by the "
            "operator), and no internal, private or metadata address (again at every connect)."
        ),
        responses=problems(400, 401, 422, 503),
    )
    async def create(
        self, services: ServicesDep, data: JSONBody[SubscriptionCreate]
    ) -> SubscriptionWithSecret:
        url = await _checked_url(services, data.url)
        created = await services.subscriptions.create(
            url,
            description=data.description,
            event_types=data.eventTypes,
            customer_ids=[str(c) for c in data.customerIds or ()],
        )
        return SubscriptionWithSecret(
            **msgspec.structs.asdict(SubscriptionOut.of(created)), secret=created.secret
        )

    @get("/", summary="List subscriptions (without secrets)", responses=problems(400, 401, 503))
    async def list_all(self, services: ServicesDep) -> SubscriptionList:
        return SubscriptionList([SubscriptionOut.of(s) for s in await services.subscriptions.all()])

    @get(
        "/{subscription_id:str}",
        summary="Get a subscription",
        responses=problems(400, 401, 404, 503),
    )
    async def get_one(
        self, services: ServicesDep, subscription_id: SubscriptionId
    ) -> SubscriptionOut:
        return SubscriptionOut.of(await _existing(services, subscription_id))

    @patch(
        "/{subscription_id:str}",
        summary="Change a subscription; `enabled` disables or re-enables it",
        description="Fields left out stay as they are; an empty list removes a filter.",
        responses=problems(400, 401, 404, 422, 503),
    )
    async def update(
        self,
        services: ServicesDep,
        subscription_id: SubscriptionId,
        data: JSONBody[SubscriptionUpdate],
    ) -> SubscriptionOut:
        current = await _existing(services, subscription_id)
        changes: dict[str, object] = {}
        if data.url is not None:
            changes["url"] = await _checked_url(services, data.url)
        if data.eventTypes is not None:
            changes["eventTypes"] = data.eventTypes or None
        if data.customerIds is not None:
            changes["customerIds"] = [str(c) for c in data.customerIds] or None
        if data.description is not None:
            changes["description"] = data.description
        if changes:
            await services.subscriptions.update(current, **changes)
        if data.enabled is True:
            await services.subscriptions.enable(subscription_id)
        elif data.enabled is False:
            await services.subscriptions.disable(subscription_id, "manual")
        return SubscriptionOut.of(await _existing(services, subscription_id))

    @delete(
        "/{subscription_id:str}",
        summary="Delete a subscription and its pending deliveries",
        responses=problems(400, 401, 404, 503),
    )
    async def remove(self, services: ServicesDep, subscription_id: SubscriptionId) -> None:
        if not await services.subscriptions.delete(subscription_id):
            raise ProblemError(404, "not_found", "No such subscription")

    @post(
        "/{subscription_id:str}/rotate-secret",
        status_code=200,
        summary="Rotate the signing secret; the old one keeps signing alongside for 24 h",
        responses=problems(400, 401, 404, 503),
    )
    async def rotate(self, services: ServicesDep, subscription_id: SubscriptionId) -> RotatedSecret:
        rotated = await services.subscriptions.rotate_secret(
            await _existing(services, subscription_id)
        )
        assert rotated.previousSecretExpiresAt is not None
        return RotatedSecret(rotated.secret, rfc3339_ms(rotated.previousSecretExpiresAt))

    @post(
        "/{subscription_id:str}/test",
        status_code=202,
        summary="Send a ping, or a sample of any event type marked `test: true`",
        responses=problems(400, 401, 404, 409, 503),
    )
    async def test(
        self,
        services: ServicesDep,
        subscription_id: SubscriptionId,
        data: JSONBody[TestRequest | None] = None,
    ) -> Queued:
        subscription = await _existing(services, subscription_id)
        if not subscription.enabled:
            raise ProblemError(409, "subscription_disabled", "Enable the subscription first")
        kind = data.type if data is not None else EventType.PING
        event = sample_event(services.settings.calypso_account, kind, subscription_id)
        state = DeliveryState(kind, body=msgspec.json.encode(event))
        await services.deliveries.enqueue(subscription_id, event.id, state)
        return Queued(1, event.id)

    @get(
        "/{subscription_id:str}/deliveries",
        summary="The attempt log, newest first",
        responses=problems(400, 401, 404, 503),
    )
    async def attempts(
        self,
        services: ServicesDep,
        subscription_id: SubscriptionId,
        cursor: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> AttemptPageOut:
        await _existing(services, subscription_id)
        if before_first_entry(cursor):
            return AttemptPageOut([])
        page = await services.attempts.page(subscription_id, cursor, limit)
        return AttemptPageOut([AttemptOut.of(i, a) for i, a in page.items], page.next_cursor)

    @get(
        "/{subscription_id:str}/dead-letters",
        summary="Deliveries that used up every attempt; replay or redeliver brings them back",
        responses=problems(400, 401, 404, 503),
    )
    async def dead_letters(
        self, services: ServicesDep, subscription_id: SubscriptionId
    ) -> DeadLetterList:
        await _existing(services, subscription_id)
        letters = await services.deliveries.dead_letters(subscription_id)
        return DeadLetterList(
            [
                DeadLetterOut(d.eventId, d.eventType, d.attempts, d.lastOutcome, rfc3339_ms(d.at))
                for d in letters
            ]
        )

    @post(
        "/{subscription_id:str}/replay",
        status_code=202,
        summary="Deliver again every matching event since a time",
        description=f"At most {REPLAY_LIMIT:,} events per call; the answer says how many.",
        responses=problems(400, 401, 404, 503),
    )
    async def replay(
        self,
        services: ServicesDep,
        subscription_id: SubscriptionId,
        data: JSONBody[ReplayRequest],
    ) -> Queued:
        subscription = await _existing(services, subscription_id)
        return Queued(await services.redelivery.replay(subscription, data.since))
