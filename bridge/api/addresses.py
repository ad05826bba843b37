"""Deposit addresses (Calypso "purses") of a customer."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from bridge.api.access import requires
from bridge.api.params import CustomerId
from bridge.api.problems import problems
from bridge.api.schemas import AddressRequest, PurseList
from bridge.api.services import ServicesDep
from bridge.views import PurseView

__all__ = ["AddressController"]


class AddressController(Controller):
    path = "/customers/{customer_id:uuid}"
    tags = ("addresses",)

    @post(
        "/addresses",
        **requires("customers:write"),
        status_code=200,
        summary="Get the customer's deposit address for a currency",
        description=(
            "Issues the address when the customer has none for the currency's network yet, "
            "else returns the existing one (an address serves every currency of its "
            "network). The customer is watched from then on."
        ),
        responses=problems(400, 401, 403, 404, 422, 502, 503, 504),
    )
    async def issue_address(
        self, services: ServicesDep, customer_id: CustomerId, data: JSONBody[AddressRequest]
    ) -> PurseView:
        purse = await services.addresses.issue(customer_id, data.currency)
        return PurseView.of(purse, str(customer_id))

    @get(
        "/purses",
        **requires("customers:read"),
        summary="List the customer's deposit addresses",
        responses=problems(400, 401, 403, 404, 502, 503, 504),
    )
    async def list_purses(self, services: ServicesDep, customer_id: CustomerId) -> PurseList:
        purses = await services.calypso.get_purses(customer_id)
        return PurseList(items=[PurseView.of(p, str(customer_id)) for p in purses])
