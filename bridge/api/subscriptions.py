"""``/v1/subscriptions``: webhook endpoints, their secrets, tests, attempt log and recovery."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, QueryParameter

from bridge.api.access import Caller, CallerDep, requires
from bridge.api.audit import audited
from bridge.api.params import Cursor, before_first_entry
from bridge.api.problems import problems
from bridge.api.schemas import rfc3339_ms
from bridge.api.services import ServicesDep
from bridge.api.subscription_schemas import (
    AttemptOut,
    AttemptPageOut,
    DeadLetterList,
    DeadLetterOut,
    Queued,
    ReplayRequest,
    RotatedSecret,
    SubscriptionCreate,
    SubscriptionId,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
    TestRequest,
)
from bridge.delivery.replay import REPLAY_LIMIT, SubscriptionNotFound
from bridge.delivery.subscriptions import Subscription
from bridge.events.model import EventType
from bridge.wiring import Components

__all__ = ["SubscriptionController"]


async def _existing(services: Components, caller: Caller, subscription_id: str) -> Subscription:
    """The subscription, if the caller may see it: another token's answers 404 exactly as
    a missing one does, so its existence is not revealed."""
    subscription = await services.subscriptions.get(subscription_id)
    if subscription is None or not caller.sees(subscription.owner):
        raise SubscriptionNotFound(subscription_id)
    return subscription


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ("subscriptions",)

    @post(
        "/",
        **requires("subscriptions:write"),
        status_code=201,
        summary="Subscribe a URL to events",
        description=(
            "The answer carries the signing `secret` (`whsec_…`); it is shown only here and on "
            "rotation. The URL is checked at once: https (unless http is allowed by the "
            "operator), and no internal, private or metadata address (again at every connect)."
        ),
        responses=problems(400, 401, 403, 422, 503),
    )
    async def create(
        self, services: ServicesDep, caller: CallerDep, data: JSONBody[SubscriptionCreate]
    ) -> SubscriptionWithSecret:
        url = await services.url_policy.check_url(data.url)
        created = await services.subscriptions.create(
            url,
            description=data.description,
            event_types=data.eventTypes,
            customer_ids=[str(c) for c in data.customerIds or ()],
            ordering=data.ordering,
            owner=caller.name,
        )
        await audited(services, caller, "create", created.id)
        return SubscriptionWithSecret.of(created)

    @get(
        "/",
        **requires("subscriptions:read"),
        summary="List subscriptions (without secrets)",
        responses=problems(400, 401, 403, 503),
    )
    async def list_all(self, services: ServicesDep, caller: CallerDep) -> SubscriptionList:
        return SubscriptionList(
            [
                SubscriptionOut.of(s)
                for s in await services.subscriptions.all()
                if caller.sees(s.owner)
            ]
        )

    @get(
        "/{subscription_id:str}",
        **requires("subscriptions:read"),
        summary="Get a subscription",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def get_one(
        self, services: ServicesDep, caller: CallerDep, subscription_id: SubscriptionId
    ) -> SubscriptionOut:
        return SubscriptionOut.of(await _existing(services, caller, subscription_id))

    @patch(
        "/{subscription_id:str}",
        **requires("subscriptions:write"),
        summary="Change a subscription; `enabled` disables or re-enables it",
        description="Fields left out stay as they are; an empty list removes a filter.",
        responses=problems(400, 401, 403, 404, 422, 503),
    )
    async def update(
        self,
        services: ServicesDep,
        caller: CallerDep,
        subscription_id: SubscriptionId,
        data: JSONBody[SubscriptionUpdate],
    ) -> SubscriptionOut:
        current = await _existing(services, caller, subscription_id)
        changes: dict[str, object] = {}
        if data.url is not None:
            changes["url"] = await services.url_policy.check_url(data.url)
        if data.eventTypes is not None:
            changes["eventTypes"] = data.eventTypes or None
        if data.customerIds is not None:
            changes["customerIds"] = [str(c) for c in data.customerIds] or None
        if data.description is not None:
            changes["description"] = data.description
        if data.ordering is not None:
            changes["ordering"] = data.ordering
        if changes:
            await services.subscriptions.update(current, **changes)
        if data.enabled is True:
            await services.subscriptions.enable(subscription_id)
        elif data.enabled is False:
            await services.subscriptions.disable(subscription_id, "manual")
        await audited(services, caller, "update", subscription_id)
        return SubscriptionOut.of(await _existing(services, caller, subscription_id))

    @delete(
        "/{subscription_id:str}",
        **requires("subscriptions:write"),
        summary="Delete a subscription and its pending deliveries",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def remove(
        self, services: ServicesDep, caller: CallerDep, subscription_id: SubscriptionId
    ) -> None:
        await _existing(services, caller, subscription_id)
        if not await services.subscriptions.delete(subscription_id):
            raise SubscriptionNotFound(subscription_id)
        await audited(services, caller, "delete", subscription_id)

    @post(
        "/{subscription_id:str}/rotate-secret",
        **requires("subscriptions:write"),
        status_code=200,
        summary="Rotate the signing secret; the old one keeps signing alongside for 24 h",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def rotate(
        self, services: ServicesDep, caller: CallerDep, subscription_id: SubscriptionId
    ) -> RotatedSecret:
        rotated = await services.subscriptions.rotate_secret(
            await _existing(services, caller, subscription_id)
        )
        await audited(services, caller, "rotate", subscription_id)
        replaced = rotated.previousSecrets[0]
        return RotatedSecret(rotated.secret, rfc3339_ms(replaced.expiresAt))

    @post(
        "/{subscription_id:str}/test",
        **requires("subscriptions:write"),
        status_code=202,
        summary="Send a ping, or a sample of any event type marked `test: true`",
        responses=problems(400, 401, 403, 404, 409, 503),
    )
    async def test(
        self,
        services: ServicesDep,
        caller: CallerDep,
        subscription_id: SubscriptionId,
        data: JSONBody[TestRequest | None] = None,
    ) -> Queued:
        subscription = await _existing(services, caller, subscription_id)
        kind = data.type if data is not None else EventType.PING
        event_id = await services.redelivery.send_test(subscription, kind)
        await audited(services, caller, "test", subscription_id, event_id=event_id, queued=1)
        return Queued(1, event_id)

    @get(
        "/{subscription_id:str}/deliveries",
        **requires("subscriptions:read"),
        summary="The attempt log, newest first",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def attempts(
        self,
        services: ServicesDep,
        caller: CallerDep,
        subscription_id: SubscriptionId,
        cursor: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> AttemptPageOut:
        await _existing(services, caller, subscription_id)
        if before_first_entry(cursor):
            return AttemptPageOut([])
        page = await services.attempts.page(subscription_id, cursor, limit)
        return AttemptPageOut([AttemptOut.of(i, a) for i, a in page.items], page.next_cursor)

    @get(
        "/{subscription_id:str}/dead-letters",
        **requires("subscriptions:read"),
        summary="Deliveries that used up every attempt; replay or redeliver brings them back",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def dead_letters(
        self, services: ServicesDep, caller: CallerDep, subscription_id: SubscriptionId
    ) -> DeadLetterList:
        await _existing(services, caller, subscription_id)
        letters = await services.deliveries.dead_letters(subscription_id)
        return DeadLetterList(
            [
                DeadLetterOut(d.eventId, d.eventType, d.attempts, d.lastOutcome, rfc3339_ms(d.at))
                for d in letters
            ]
        )

    @post(
        "/{subscription_id:str}/replay",
        **requires("subscriptions:write"),
        status_code=202,
        summary="Deliver again every matching event since a time",
        description=f"At most {REPLAY_LIMIT:,} events per call; the answer says how many.",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def replay(
        self,
        services: ServicesDep,
        caller: CallerDep,
        subscription_id: SubscriptionId,
        data: JSONBody[ReplayRequest],
    ) -> Queued:
        subscription = await _existing(services, caller, subscription_id)
        queued = await services.redelivery.replay(subscription, data.since)
        await audited(services, caller, "replay", subscription_id, queued=queued)
        return Queued(queued)
