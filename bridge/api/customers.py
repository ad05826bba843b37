"""``/v1/customers``: create, find, read, update, block and unblock Calypso customers."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from redis.exceptions import LockError

from bridge.api.auth import caller_scope
from bridge.api.params import CustomerId
from bridge.api.problems import ProblemError, problems
from bridge.api.schemas import CustomerCreateRequest, CustomerList, CustomerUpdateRequest
from bridge.api.services import Services, ServicesDep
from bridge.calypso import models
from bridge.events.build import customer_event
from bridge.events.model import EventType
from bridge.store.idempotency import Claim, StoredResponse
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
            **problems(400, 401, 409, 422, 502, 503, 504),
        },
    )
    async def create_customer(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CustomerCreateRequest],
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[CustomerView]:
        if idempotency_key is None:
            status, customer = await _create_or_find(services, data)
            return Response(CustomerView.of(customer), status_code=status)
        scope = caller_scope(request)
        fingerprint = hashlib.sha256(b"POST /v1/customers " + msgspec.json.encode(data)).hexdigest()
        claim, stored = await services.idempotency.claim(scope, idempotency_key, fingerprint)
        if claim is Claim.REPLAY:
            assert stored is not None
            replay = msgspec.json.decode(stored.body, type=CustomerView)
            headers = {"Idempotent-Replayed": "true"}
            return Response(replay, status_code=stored.status, headers=headers)
        if claim is Claim.IN_FLIGHT:
            raise ProblemError(
                409,
                "idempotency_in_flight",
                "A request with this Idempotency-Key is still in progress",
                "Retry once it has finished to get its response.",
                headers={"Retry-After": "1"},
            )
        if claim is Claim.MISMATCH:
            raise ProblemError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different request",
                "Use a new key for a new request.",
            )
        try:
            status, created = await _create_or_find(services, data)
        except BaseException:
            # The outcome is either nothing or unknown: free the key so a retry runs again
            # (with an externalId, that retry finds a customer that did get created).
            await services.idempotency.release(scope, idempotency_key, fingerprint)
            raise
        answer = CustomerView.of(created)
        stored = StoredResponse(status, msgspec.json.encode(answer))
        await services.idempotency.complete(scope, idempotency_key, fingerprint, stored)
        return Response(answer, status_code=status)

    @get(
        "/",
        summary="Find customers by external id",
        responses=problems(400, 401, 502, 503, 504),
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
        summary="Get a customer",
        responses=problems(400, 401, 404, 502, 503, 504),
    )
    async def get_customer(self, services: ServicesDep, customer_id: CustomerId) -> CustomerView:
        return CustomerView.of(await services.calypso.get_customer(customer_id))

    @patch(
        "/{customer_id:uuid}",
        summary="Update a customer's email or description",
        responses=problems(400, 401, 404, 422, 502, 503, 504),
    )
    async def update_customer(
        self, services: ServicesDep, customer_id: CustomerId, data: JSONBody[CustomerUpdateRequest]
    ) -> CustomerView:
        update = models.CustomerUpdate(customer_id, data.email, data.description)
        customer = await services.calypso.update_customer(update)
        await _announce(services, EventType.CUSTOMER_UPDATED, customer)
        return CustomerView.of(customer)

    @post(
        "/{customer_id:uuid}/block",
        status_code=200,
        summary="Block a customer",
        responses=problems(400, 401, 404, 422, 502, 503, 504),
    )
    async def block_customer(self, services: ServicesDep, customer_id: CustomerId) -> CustomerView:
        customer = await services.calypso.block_customer(customer_id)
        await _announce(services, EventType.CUSTOMER_BLOCKED, customer)
        return CustomerView.of(customer)

    @post(
        "/{customer_id:uuid}/unblock",
        status_code=200,
        summary="Unblock a customer",
        responses=problems(400, 401, 404, 422, 502, 503, 504),
    )
    async def unblock_customer(
        self, services: ServicesDep, customer_id: CustomerId
    ) -> CustomerView:
        customer = await services.calypso.unblock_customer(customer_id)
        await _announce(services, EventType.CUSTOMER_UNBLOCKED, customer)
        return CustomerView.of(customer)


async def _announce(services: Services, kind: EventType, customer: models.Customer) -> None:
    await services.events.append(
        [customer_event(services.settings.calypso_account, kind, customer)]
    )


async def _create_or_find(
    services: Services, data: CustomerCreateRequest
) -> tuple[int, models.Customer]:
    """Create, unless the external id already names a customer.

    Two requests with one external id are serialised by a Redis lock, so the second sees
    the first one's customer instead of racing it into a duplicate.
    """
    request = models.CustomerCreate(
        email=data.email, description=data.description, externalId=data.externalId
    )
    if data.externalId is None:
        created = await services.calypso.create_customer(request)
        await _watch_new(services, created)
        return 201, created
    lock = services.redis.lock(
        services.keys.external_id_lock(data.externalId), timeout=60, blocking_timeout=15
    )
    try:
        await lock.acquire()
    except LockError:
        raise ProblemError(
            409,
            "external_id_in_flight",
            "Another request is creating a customer with this externalId",
            "Retry shortly; it will return that customer.",
            headers={"Retry-After": "1"},
        ) from None
    try:
        existing = await services.calypso.find_customers_by_external_id(data.externalId)
        status, customer = (
            (200, existing[0])
            if existing
            else (201, await services.calypso.create_customer(request))
        )
        await _watch_new(services, customer)
    finally:
        with contextlib.suppress(LockError):  # expired while we worked: nothing to release
            await lock.release()
    return status, customer


async def _watch_new(services: Services, customer: models.Customer) -> None:
    # customer.created has a fixed id per customer: announcing it again after a retry (or
    # for an existing customer matched by externalId) is deduplicated by the event log.
    await services.watchlist.watch(customer.id, "created")
    await _announce(services, EventType.CUSTOMER_CREATED, customer)
