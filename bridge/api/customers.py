"""``/v1/customers``: create, find, read, update, block and unblock Calypso customers."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from bridge.api.access import requires
from bridge.api.auth import caller_scope
from bridge.api.params import CustomerId
from bridge.api.problems import problems
from bridge.api.schemas import CustomerCreateRequest, CustomerList, CustomerUpdateRequest
from bridge.api.services import ServicesDep
from bridge.calypso import models
from bridge.customers import IdempotentRequest
from bridge.views import CustomerView

__all__ = ["CustomerController"]

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key replay the first response for 24 h.",
        required=False,
    ),
]


class CustomerController(Controller):
    path = "/customers"
    tags = ("customers",)

    @post(
        "/",
        **requires("customers:write"),
        status_code=201,
        summary="Create a customer (idempotent)",
        description=(
            "201 with a new customer. With an `externalId` that already names a customer, "
            "200 with that customer instead of a duplicate. With an `Idempotency-Key`, a retry "
            "replays the first response (header `Idempotent-Replayed: true`)."
        ),
        responses={
            200: ResponseSpec(
                data_container=CustomerView,
                description="The customer that already has this externalId",
                generate_examples=False,
            ),
            **problems(400, 401, 403, 409, 422, 502, 503, 504),
        },
    )
    async def create_customer(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CustomerCreateRequest],
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[CustomerView]:
        create = models.CustomerCreate(
            email=data.email, description=data.description, externalId=data.externalId
        )
        idempotent = None
        if idempotency_key is not None:
            body = b"POST /v1/customers " + msgspec.json.encode(data)
            fingerprint = hashlib.sha256(body).hexdigest()
            idempotent = IdempotentRequest(caller_scope(request), idempotency_key, fingerprint)
        outcome = await services.customers.create_or_find(create, idempotent)
        return Response(
            CustomerView.of(outcome.customer),
            status_code=201 if outcome.created else 200,
            headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
        )

    @get(
        "/",
        **requires("customers:read"),
        summary="Find customers by external id",
        responses=problems(400, 401, 403, 502, 503, 504),
    )
    async def find_customers(
        self,
        services: ServicesDep,
        externalId: Annotated[str, QueryParameter(min_length=1, max_length=255)],
    ) -> CustomerList:
        found = await services.calypso.find_customers_by_external_id(externalId)
        return CustomerList(items=[CustomerView.of(c) for c in found])

    @get(
        "/{customer_id:uuid}",
        **requires("customers:read"),
        summary="Get a customer",
        responses=problems(400, 401, 403, 404, 502, 503, 504),
    )
    async def get_customer(self, services: ServicesDep, customer_id: CustomerId) -> CustomerView:
        return CustomerView.of(await services.calypso.get_customer(customer_id))

    @patch(
        "/{customer_id:uuid}",
        **requires("customers:write"),
        summary="Update a customer's email or description",
        responses=problems(400, 401, 403, 404, 422, 502, 503, 504),
    )
    async def update_customer(
        self, services: ServicesDep, customer_id: CustomerId, data: JSONBody[CustomerUpdateRequest]
    ) -> CustomerView:
        update = models.CustomerUpdate(customer_id, data.email, data.description)
        return CustomerView.of(await services.customers.update(update))

    @post(
        "/{customer_id:uuid}/block",
        **requires("customers:write"),
        status_code=200,
        summary="Block a customer",
        responses=problems(400, 401, 403, 404, 422, 502, 503, 504),
    )
    async def block_customer(self, services: ServicesDep, customer_id: CustomerId) -> CustomerView:
        return CustomerView.of(await services.customers.block(customer_id))

    @post(
        "/{customer_id:uuid}/unblock",
        **requires("customers:write"),
        status_code=200,
        summary="Unblock a customer",
        responses=problems(400, 401, 403, 404, 422, 502, 503, 504),
    )
    async def unblock_customer(
        self, services: ServicesDep, customer_id: CustomerId
    ) -> CustomerView:
        return CustomerView.of(await services.customers.unblock(customer_id))
