"""The ten Customer Purse endpoints, answered the way Calypso answers them.

Every request goes through the same pipeline, in Calypso's order: injected faults, ``Key``,
``Sign`` over the raw body, envelope validation against the spec's constraints, ``account``,
the timestamp window, then the operation. Whatever fails answers Calypso's error document
``{"traceId", "errorCode", "message"}``, never a framework error page. Each request, whatever
its fate, is counted and written to the request log with the status it got.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from bridge.calypso import endpoints as ep
from bridge.calypso.models import (
    ByCustomerId,
    ByExternalId,
    ByTransactionId,
    Customer,
    CustomerCreate,
    CustomerList,
    CustomerUpdate,
    Envelope,
    ErrorResponse,
    Purse,
    PurseAddressRequest,
    PurseList,
    Transaction,
    TransactionPage,
    TransactionSearch,
)
from bridge.calypso.signing import verify
from bridge.sandbox.addresses import currencies_of
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.faults import FaultDecision
from bridge.sandbox.records import (
    CustomerRecord,
    InvalidRequest,
    ObjectNotFound,
    PurseRecord,
    TransactionRecord,
    rfc3339,
)
from bridge.sandbox.requestlog import RequestSubject, subject_of
from bridge.sandbox.search import find_transactions
from bridge.sandbox.state import SandboxState

__all__ = ["CalypsoEndpoints", "calypso_error"]

logger = logging.getLogger(__name__)

Operation = Callable[[Any], msgspec.Struct]

INTERNAL_ERROR = "000"
BAD_REQUEST = "001"
INVALID_API_KEY = "002"
WRONG_SIGN = "003"
NOT_FOUND = "004"
INVALID_TIMESTAMP = "011"


class _Rejected(Exception):
    """A Calypso client error (HTTP 400) with its documented code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def calypso_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[bytes]:
    body = ErrorResponse(errorCode=code, message=message, traceId=uuid.uuid4().hex)
    return Response(
        content=msgspec.json.encode(body),
        media_type="application/json",
        status_code=status,
        headers=headers,
    )


class CalypsoEndpoints:
    """Routes for the ten endpoints over one :class:`SandboxState`."""

    def __init__(self, config: SandboxConfig, state: SandboxState) -> None:
        self._config = config
        self._state = state
        # Amounts go out as JSON numbers with every decimal, as Calypso sends them.
        self._encoder = msgspec.json.Encoder(decimal_format="number")
        self._decoders = {e.name: msgspec.json.Decoder(_envelope_of(e)) for e in ep.ENDPOINTS}
        self._operations: dict[str, Operation] = {
            ep.CUSTOMER_CREATE.name: self._customer_create,
            ep.CUSTOMER_GET.name: self._customer_get,
            ep.CUSTOMER_BY_EXTERNAL_ID.name: self._customers_by_external_id,
            ep.CUSTOMER_UPDATE.name: self._customer_update,
            ep.CUSTOMER_BLOCK.name: self._customer_block,
            ep.CUSTOMER_UNBLOCK.name: self._customer_unblock,
            ep.ADDRESS_GET.name: self._address_get,
            ep.PURSES_GET_ALL.name: self._purses_get_all,
            ep.TRANSACTION_GET.name: self._transaction_get,
            ep.TRANSACTION_FIND.name: self._transaction_find,
        }

    def route_handlers(self) -> list[HTTPRouteHandler]:
        return [self._route(endpoint) for endpoint in ep.ENDPOINTS]

    def _route(self, endpoint: ep.Endpoint) -> HTTPRouteHandler:
        async def handle(request: Request[Any, Any, Any]) -> Response[bytes]:
            return await self.answer(endpoint, request)

        return post(endpoint.path, name=endpoint.name, status_code=200)(handle)

    async def answer(
        self, endpoint: ep.Endpoint, request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        arrived_ms = time.time_ns() // 1_000_000
        fault = self._state.faults.draw(endpoint.name)
        if fault.latency_seconds:
            await asyncio.sleep(fault.latency_seconds)
        if fault.status is not None and not fault.after_processing:
            return await self._inject(endpoint, request, fault, arrived_ms)
        response = await self._respond(endpoint, request)
        if fault.status is not None:
            # The operation ran and changed state; only its answer is lost.
            return await self._inject(endpoint, request, fault, arrived_ms)
        await self._record(endpoint, request, response.status_code or 200, arrived_ms)
        return response

    async def _record(
        self, endpoint: ep.Endpoint, request: Request[Any, Any, Any], status: int, at: int
    ) -> None:
        subject = subject_of(await request.body(), endpoint.name)
        if subject.customer_id is None and subject.transaction_id is not None:
            transaction = self._state.transactions.get(subject.transaction_id)
            if transaction is not None:
                subject = RequestSubject(transaction.customer_id, subject.transaction_id)
        # Both at once, with no await between: no reader sees one without the other.
        self._state.counters.record(endpoint.name, status)
        self._state.requests.record(at=at, endpoint=endpoint.name, status=status, subject=subject)

    async def _inject(
        self,
        endpoint: ep.Endpoint,
        request: Request[Any, Any, Any],
        fault: FaultDecision,
        arrived_ms: int,
    ) -> Response[bytes]:
        assert fault.status is not None
        # Counted before the hang: a hanging request shows up while the client still waits.
        await self._record(endpoint, request, fault.status, arrived_ms)
        if fault.hang_seconds:
            await asyncio.sleep(fault.hang_seconds)
        headers = None
        if fault.retry_after_seconds is not None:
            headers = {"Retry-After": str(fault.retry_after_seconds)}
        client_error = 400 <= fault.status < 500 and fault.status != 429
        code = BAD_REQUEST if client_error else INTERNAL_ERROR
        return calypso_error(fault.status, code, f"sandbox fault: {fault.reason}", headers)

    async def _respond(
        self, endpoint: ep.Endpoint, request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        try:
            result = await self._serve(endpoint, request)
        except _Rejected as rejected:
            return calypso_error(400, rejected.code, rejected.message)
        except Exception:
            logger.exception("sandbox failed on %s", endpoint.name)
            return calypso_error(500, INTERNAL_ERROR, "internal error")
        return Response(content=self._encoder.encode(result), media_type="application/json")

    async def _serve(
        self, endpoint: ep.Endpoint, request: Request[Any, Any, Any]
    ) -> msgspec.Struct:
        body = await request.body()
        key = request.headers.get("Key", "")
        if not hmac.compare_digest(key.encode(), self._config.api_key.encode()):
            raise _Rejected(INVALID_API_KEY, "invalid api key")
        if not verify(body, self._config.api_secret, request.headers.get("Sign")):
            raise _Rejected(WRONG_SIGN, "wrong sign")
        try:
            envelope: Envelope[Any] = self._decoders[endpoint.name].decode(body)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
            raise _Rejected(BAD_REQUEST, str(exc)) from exc
        if envelope.account != self._config.account:
            raise _Rejected(INVALID_API_KEY, "account does not match the api key")
        now_ms = time.time_ns() // 1_000_000
        if abs(now_ms - envelope.timestamp) > self._config.clock_skew_ms:
            raise _Rejected(
                INVALID_TIMESTAMP,
                f"invalid timestamp: must be within {self._config.clock_skew_ms} ms of "
                f"server time {now_ms}",
            )
        try:
            return self._operations[endpoint.name](envelope.payload)
        except ObjectNotFound as exc:
            raise _Rejected(NOT_FOUND, f"object not found: {exc.message}") from exc
        except InvalidRequest as exc:
            raise _Rejected(BAD_REQUEST, exc.message) from exc

    # --- operations ----------------------------------------------------------------------------

    def _customer_create(self, payload: CustomerCreate) -> Customer:
        customer = self._state.create_customer(
            email=payload.email, description=payload.description, external_id=payload.externalId
        )
        return _customer_view(customer)

    def _customer_get(self, payload: ByCustomerId) -> Customer:
        return _customer_view(self._state.customer(payload.customerId))

    def _customers_by_external_id(self, payload: ByExternalId) -> CustomerList:
        found = self._state.customers_with_external_id(payload.externalId)
        return CustomerList(customers=[_customer_view(c) for c in found])

    def _customer_update(self, payload: CustomerUpdate) -> Customer:
        customer = self._state.update_customer(
            payload.id, email=payload.email, description=payload.description
        )
        return _customer_view(customer)

    def _customer_block(self, payload: ByCustomerId) -> Customer:
        return _customer_view(self._state.set_blocked(payload.customerId, blocked=True))

    def _customer_unblock(self, payload: ByCustomerId) -> Customer:
        return _customer_view(self._state.set_blocked(payload.customerId, blocked=False))

    def _address_get(self, payload: PurseAddressRequest) -> Purse:
        return _purse_view(self._state.purse_for(payload.customerId, payload.currency))

    def _purses_get_all(self, payload: ByCustomerId) -> PurseList:
        return PurseList(purses=[_purse_view(p) for p in self._state.purses_of(payload.customerId)])

    def _transaction_get(self, payload: ByTransactionId) -> Transaction:
        return _transaction_view(self._state.transaction(payload.transactionId))

    def _transaction_find(self, payload: TransactionSearch) -> TransactionPage:
        found = find_transactions(self._state.transactions_of(payload.customerId), payload)
        return TransactionPage(
            result=[_transaction_view(t) for t in found.page],
            page=payload.pageNumber,
            size=payload.pageSize,
            total=found.total_pages,
            totalElements=found.total_elements,
        )


def _envelope_of(endpoint: ep.Endpoint) -> Any:
    # The payload type is only known at run time; mypy cannot check Envelope[variable].
    envelope: Any = Envelope
    return envelope[endpoint.payload]


def _customer_view(customer: CustomerRecord) -> Customer:
    return Customer(
        id=str(customer.id),
        blocked=customer.blocked,
        email=customer.email,
        description=customer.description,
        externalId=customer.external_id,
    )


def _purse_view(purse: PurseRecord) -> Purse:
    return Purse(
        id=str(purse.id),
        address=purse.address,
        currencies=currencies_of(purse.network),
        createdDate=rfc3339(purse.created_us),
    )


def _transaction_view(transaction: TransactionRecord) -> Transaction:
    return Transaction(
        id=str(transaction.id),
        amount=transaction.amount,
        addressFrom=transaction.address_from,
        currency=transaction.currency,
        transactionState=transaction.state,
        complianceState=transaction.compliance,
        translationToAccountCompleted=transaction.credited,
        createdDate=rfc3339(transaction.created_us),
        transactionHash=transaction.transaction_hash,
    )
