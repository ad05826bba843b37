"""Transactions: a customer's list (paged, filtered) and one by id."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from bridge.api.access import requires
from bridge.api.params import CustomerId, TransactionId
from bridge.api.problems import problems
from bridge.api.schemas import CURRENCY_PATTERN, TransactionPageOut
from bridge.api.services import ServicesDep
from bridge.calypso import models
from bridge.views import TransactionView

__all__ = ["TransactionController"]

MAX_PAGE_SIZE = 100


class TransactionController(Controller):
    tags = ("transactions",)

    @get(
        "/customers/{customer_id:uuid}/transactions",
        **requires("customers:read"),
        summary="List a customer's transactions, newest first by default",
        responses=problems(400, 401, 403, 404, 502, 503, 504),
    )
    async def list_transactions(
        self,
        services: ServicesDep,
        customer_id: CustomerId,
        currency: Annotated[
            str | None, QueryParameter(name="currency", pattern=CURRENCY_PATTERN, max_length=20)
        ] = None,
        state_filter: Annotated[
            models.TransactionState | None, QueryParameter(name="state")
        ] = None,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        pageSize: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
        order: FromQuery[Literal["asc", "desc"]] = "desc",
    ) -> TransactionPageOut:
        search = models.TransactionSearch(
            customerId=customer_id,
            pageNumber=page,
            pageSize=pageSize,
            sort="ASC" if order == "asc" else "DESC",
            properties="createdDate",
            currencyFilter=models.StringFilter(equals=currency) if currency else None,
            transactionStateFilter=(
                models.TransactionStateFilter(equals=state_filter) if state_filter else None
            ),
        )
        found = await services.calypso.find_transactions(search)
        return TransactionPageOut(
            items=[TransactionView.of(tx, str(customer_id)) for tx in found.result],
            page=found.page,
            pageSize=found.size,
            totalPages=found.total,
            totalItems=found.totalElements,
        )

    @get(
        "/transactions/{transaction_id:uuid}",
        **requires("customers:read"),
        summary="Get one transaction",
        responses=problems(400, 401, 403, 404, 502, 503, 504),
    )
    async def get_transaction(
        self, services: ServicesDep, transaction_id: TransactionId
    ) -> TransactionView:
        return TransactionView.of(await services.calypso.get_transaction(transaction_id), None)
