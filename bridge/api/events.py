"""``/v1/events``: the event log, newest first by default, cursor-paged and filtered."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from bridge.api.access import CallerDep, requires
from bridge.api.audit import audited
from bridge.api.params import Cursor, before_first_entry
from bridge.api.problems import problems
from bridge.api.services import ServicesDep
from bridge.api.subscription_schemas import Queued
from bridge.delivery.replay import EventNotFound
from bridge.events.model import Event, EventType

__all__ = ["EventController"]

MAX_LIMIT = 500
EventId = Annotated[str, PathParameter(pattern=r"^evt_[a-z2-7]{26}$", description="Event id.")]


class EventPageOut(msgspec.Struct, frozen=True):
    items: list[Event]
    nextCursor: str | None = msgspec.field(default=None)


class RedeliverRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    subscriptionId: Annotated[str, msgspec.Meta(pattern=r"^sub_[a-z2-7]{24}$")] | None = None


class EventController(Controller):
    path = "/events"
    tags = ("events",)

    @get(
        "/",
        **requires("events:read"),
        summary="Read the event log",
        description=(
            "Pass `nextCursor` back as `cursor` for the next page. Filters are applied while "
            "reading, at most 1,000 entries per request: a page can be short (even empty) "
            "and still have a `nextCursor`; `nextCursor` is null once the log is exhausted."
        ),
        responses=problems(400, 401, 403, 503),
    )
    async def list_events(
        self,
        services: ServicesDep,
        cursor: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
        types: Annotated[list[EventType] | None, QueryParameter(name="type")] = None,
        customerId: FromQuery[uuid.UUID | None] = None,
        order: FromQuery[Literal["asc", "desc"]] = "desc",
    ) -> EventPageOut:
        if order == "desc" and before_first_entry(cursor):
            return EventPageOut([], None)
        page = await services.events.page(
            cursor=cursor,
            limit=limit,
            newest_first=order == "desc",
            types=frozenset(types or ()),
            customer_id=None if customerId is None else str(customerId),
        )
        return EventPageOut([Event.decode(e.body) for e in page.items], page.next_cursor)

    @post(
        "/{event_id:str}/redeliver",
        **requires("subscriptions:write"),
        status_code=202,
        summary="Deliver one event again",
        description=(
            "To every enabled subscription that wants it, or only to `subscriptionId`; a "
            "token without `admin`, to its own subscriptions only. The `webhook-id` stays "
            "the event id, so receivers recognise it."
        ),
        responses=problems(400, 401, 403, 404, 503),
    )
    async def redeliver(
        self,
        services: ServicesDep,
        caller: CallerDep,
        event_id: EventId,
        data: JSONBody[RedeliverRequest | None] = None,
    ) -> Response[Queued]:
        target = data.subscriptionId if data is not None else None
        queued = await services.redelivery.redeliver(event_id, target, owner=caller.owner_filter)
        await audited(services, caller, "redeliver", target, event_id=event_id, queued=queued)
        return Response(Queued(queued, event_id), status_code=202)

    @get(
        "/{event_id:str}",
        **requires("events:read"),
        summary="Get one event",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def get_event(self, services: ServicesDep, event_id: EventId) -> Event:
        stored = await services.events.get(event_id)
        if stored is None:
            raise EventNotFound(event_id)
        return Event.decode(stored.body)
