"""``/v1/audit``: who changed which subscription, and when (``admin`` only)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import structlog
from litestar import Controller, get
from litestar.params import QueryParameter

from bridge.api.access import Caller, requires
from bridge.api.params import Cursor, before_first_entry
from bridge.api.problems import problems
from bridge.api.schemas import rfc3339_ms
from bridge.api.services import ServicesDep
from bridge.delivery.audit import Action, AuditEntry
from bridge.wiring import Components

__all__ = ["AuditController", "audited"]


async def audited(
    services: Components,
    caller: Caller,
    action: Action,
    subscription_id: str | None,
    *,
    event_id: str | None = None,
    queued: int | None = None,
) -> None:
    """Append a change the caller just made to the account's audit trail."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    await services.audit.record(
        action,
        caller.name,
        subscription_id,
        event_id=event_id,
        queued=queued,
        request_id=None if request_id is None else str(request_id),
    )


class AuditEntryOut(msgspec.Struct, frozen=True):
    id: str
    at: str
    token: Annotated[str, msgspec.Meta(description="The name of the token that made it.")]
    action: Action
    subscriptionId: Annotated[
        str | None, msgspec.Meta(description="null: a redelivery to every subscription.")
    ] = None
    eventId: str | None = None
    queued: int | None = None
    requestId: str | None = None

    @classmethod
    def of(cls, entry_id: str, e: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry_id,
            at=rfc3339_ms(e.at),
            token=e.token,
            action=e.action,
            subscriptionId=e.subscriptionId,
            eventId=e.eventId,
            queued=e.queued,
            requestId=e.requestId,
        )


class AuditPageOut(msgspec.Struct, frozen=True):
    items: list[AuditEntryOut]
    nextCursor: str | None = None


class AuditController(Controller):
    path = "/audit"
    tags = ("audit",)

    @get(
        "/",
        **requires("admin"),
        summary="The audit trail of subscription changes, newest first",
        description="Pass `nextCursor` back as `cursor` for the next page.",
        responses=problems(400, 401, 403, 503),
    )
    async def audit_trail(
        self,
        services: ServicesDep,
        cursor: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> AuditPageOut:
        if before_first_entry(cursor):
            return AuditPageOut([])
        page = await services.audit.page(cursor, limit)
        return AuditPageOut([AuditEntryOut.of(i, e) for i, e in page.items], page.next_cursor)
