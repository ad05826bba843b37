"""``/v1/event-types``: the event catalog, so receivers can generate and check their models."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import PathParameter

from bridge.api.access import requires
from bridge.api.problems import ProblemError, problems
from bridge.events.catalog import EventTypeInfo, catalog, entry
from bridge.events.model import EventType

__all__ = ["EventTypeController"]

TypeName = Annotated[
    str, PathParameter(pattern=r"^[a-z_.]{1,64}$", description="An event type, e.g. `ping`.")
]


class EventTypeList(msgspec.Struct, frozen=True):
    items: list[EventTypeInfo]


class EventTypeController(Controller):
    path = "/event-types"
    tags = ("events",)

    @get(
        "/",
        **requires("events:read"),
        summary="List every event type",
        description=(
            "Each type with its description, the JSON Schema (draft 2020-12) of its whole "
            "envelope and an example; the OpenAPI document's `webhooks` say the same."
        ),
        responses=problems(400, 401, 403),
    )
    async def list_event_types(self) -> EventTypeList:
        return EventTypeList(list(catalog()))

    @get(
        "/{type_name:str}",
        **requires("events:read"),
        summary="Get one event type",
        responses=problems(400, 401, 403, 404),
    )
    async def get_event_type(self, type_name: TypeName) -> EventTypeInfo:
        try:
            kind = EventType(type_name)
        except ValueError:
            raise ProblemError(
                404, "not_found", "No such event type", "GET /v1/event-types lists them."
            ) from None
        return entry(kind)
