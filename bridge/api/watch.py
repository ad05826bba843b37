"""Start or stop watching a customer, e.g. one created outside the bridge."""

from __future__ import annotations

from litestar import Controller, delete, get, put

from bridge.api.access import requires
from bridge.api.params import CustomerId
from bridge.api.problems import problems
from bridge.api.schemas import WatchStatus
from bridge.api.services import ServicesDep
from bridge.poller.watchlist import WatchEntry

__all__ = ["WatchController"]


def _status(customer_id: CustomerId, entry: WatchEntry | None) -> WatchStatus:
    if entry is None:
        return WatchStatus(customerId=str(customer_id), watched=False)
    return WatchStatus(
        customerId=str(customer_id), watched=True, since=entry.since, reason=entry.reason
    )


class WatchController(Controller):
    path = "/customers/{customer_id:uuid}/watch"
    tags = ("watch",)

    # 404 without a lookup: a customer id that is not a UUID matches no route.
    @get(
        "/",
        **requires("customers:read"),
        summary="Is the customer watched?",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def watch_status(self, services: ServicesDep, customer_id: CustomerId) -> WatchStatus:
        return _status(customer_id, await services.watchlist.get(str(customer_id)))

    @put(
        "/",
        **requires("customers:write"),
        summary="Watch a customer's transactions",
        description="The customer must exist at Calypso; watching twice changes nothing.",
        responses=problems(400, 401, 403, 404, 502, 503, 504),
    )
    async def watch(self, services: ServicesDep, customer_id: CustomerId) -> WatchStatus:
        await services.calypso.get_customer(customer_id)
        entry = await services.watchlist.watch(str(customer_id), "api")
        await services.schedule.poke(str(customer_id))
        return _status(customer_id, entry)

    @delete(
        "/",
        **requires("customers:write"),
        status_code=200,
        summary="Stop watching a customer",
        responses=problems(400, 401, 403, 404, 503),
    )
    async def unwatch(self, services: ServicesDep, customer_id: CustomerId) -> WatchStatus:
        await services.watchlist.unwatch(str(customer_id))
        return _status(customer_id, None)
