"""Sandbox-only endpoints under ``/sandbox``: what the chain and Calypso's back office do.

They let a test or a demo make a deposit arrive, walk it through its lifecycle, expire a
purse, inject faults into the Calypso endpoints and read how often, and about whom, each was
called (``webhook_controls`` adds Calypso's outgoing webhooks). They are plain JSON (no
envelope, no signature), are never counted and never fail on purpose. Errors are
``{"error": "..."}`` with 400 (bad body), 404 (unknown id) or 409 (refused transition).
Amounts are decimal strings here, as on the bridge's own API.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath

from bridge.calypso.endpoints import ENDPOINTS
from bridge.calypso.models import ComplianceState, TransactionState
from bridge.sandbox.addresses import currencies_of
from bridge.sandbox.faults import CounterSnapshot, FaultSettings
from bridge.sandbox.records import (
    Conflict,
    InvalidRequest,
    ObjectNotFound,
    PurseRecord,
    SandboxError,
    TransactionRecord,
    rfc3339,
)
from bridge.sandbox.requestlog import RequestFilter, RequestLogPage
from bridge.sandbox.state import SandboxState
from bridge.sandbox.webhooks import CalypsoWebhooks

__all__ = [
    "AdvanceRequest",
    "DepositRequest",
    "SandboxControls",
    "SandboxPurse",
    "SandboxTransaction",
    "TransactionPatch",
    "control_error",
    "decode_body",
]

T = TypeVar("T")


class DepositRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Funds arriving at a purse, named by ``address`` or by ``customerId`` + ``currency``.

    ``amount`` may be a JSON string or number; msgspec reads either straight into a
    ``Decimal`` from its text, so no float ever rounds it.
    """

    currency: str
    amount: Decimal
    address: str | None = None
    customerId: uuid.UUID | None = None
    addressFrom: str | None = None
    transactionHash: str | None = None
    transactionState: TransactionState = TransactionState.MEM_POOL_FOUND


class AdvanceRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decline: bool = False


class TransactionPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    transactionState: TransactionState | None = None
    complianceState: ComplianceState | None = None
    translationToAccountCompleted: bool | None = None


class SandboxTransaction(msgspec.Struct, frozen=True):
    """A transaction as the control endpoints show it: Calypso's fields plus where it went."""

    id: str
    customerId: str
    purseId: str
    address: str
    currency: str
    amount: str
    addressFrom: str
    transactionHash: str
    transactionState: TransactionState
    complianceState: ComplianceState
    translationToAccountCompleted: bool
    createdDate: str


class SandboxPurse(msgspec.Struct, frozen=True):
    id: str
    customerId: str
    address: str
    currencies: list[str]
    createdDate: str
    expired: bool


class SandboxControls(Controller):
    path = "/sandbox"

    @post("/deposits", status_code=201)
    async def deposit(
        self, request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxState]
    ) -> SandboxTransaction:
        body = await decode_body(request, DepositRequest)
        transaction = sandbox.deposit(
            ticker=body.currency,
            amount=body.amount,
            address=body.address,
            customer_id=body.customerId,
            address_from=body.addressFrom,
            transaction_hash=body.transactionHash,
            state=body.transactionState,
        )
        return _transaction_view(sandbox, transaction)

    @post("/transactions/{transaction_id:str}/advance", status_code=200)
    async def advance(
        self,
        request: Request[Any, Any, Any],
        sandbox: NamedDependency[SandboxState],
        transaction_id: FromPath[str],
    ) -> SandboxTransaction:
        body = await decode_body(request, AdvanceRequest, empty=AdvanceRequest())
        transaction = sandbox.advance(_id(transaction_id), decline=body.decline)
        return _transaction_view(sandbox, transaction)

    @patch("/transactions/{transaction_id:str}")
    async def patch_transaction(
        self,
        request: Request[Any, Any, Any],
        sandbox: NamedDependency[SandboxState],
        transaction_id: FromPath[str],
    ) -> SandboxTransaction:
        body = await decode_body(request, TransactionPatch)
        if body == TransactionPatch():
            raise InvalidRequest(
                "give transactionState, complianceState or translationToAccountCompleted"
            )
        transaction = sandbox.patch(
            _id(transaction_id),
            state=body.transactionState,
            compliance=body.complianceState,
            credited=body.translationToAccountCompleted,
        )
        return _transaction_view(sandbox, transaction)

    @post("/purses/{purse_id:str}/expire", status_code=200)
    async def expire_purse(
        self, sandbox: NamedDependency[SandboxState], purse_id: FromPath[str]
    ) -> SandboxPurse:
        purse = sandbox.expire_purse(_id(purse_id))
        return _purse_view(purse)

    @put("/faults")
    async def set_faults(
        self, request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxState]
    ) -> FaultSettings:
        sandbox.faults.configure(await decode_body(request, FaultSettings, empty=FaultSettings()))
        return sandbox.faults.settings

    @get("/faults")
    async def faults(self, sandbox: NamedDependency[SandboxState]) -> FaultSettings:
        return sandbox.faults.settings

    @delete("/faults")
    async def clear_faults(self, sandbox: NamedDependency[SandboxState]) -> None:
        sandbox.faults.clear()

    @get("/counters")
    async def counters(self, sandbox: NamedDependency[SandboxState]) -> CounterSnapshot:
        return sandbox.counters.snapshot()

    @delete("/counters")
    async def reset_counters(self, sandbox: NamedDependency[SandboxState]) -> None:
        # Tests that count requests want both views to start from zero together.
        sandbox.counters.reset()
        sandbox.requests.clear()

    @get("/requests")
    async def requests(
        self, request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxState]
    ) -> RequestLogPage:
        try:
            criteria = RequestFilter.from_query(
                dict(request.query_params), [endpoint.name for endpoint in ENDPOINTS]
            )
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        return RequestLogPage(items=sandbox.requests.find(criteria))

    @delete("/requests")
    async def clear_requests(self, sandbox: NamedDependency[SandboxState]) -> None:
        sandbox.requests.clear()

    @post("/reset", status_code=204)
    async def reset(
        self,
        sandbox: NamedDependency[SandboxState],
        webhooks: NamedDependency[CalypsoWebhooks],
    ) -> None:
        sandbox.reset()
        webhooks.reset()


def control_error(exc: Exception) -> Response[dict[str, str]]:
    """The ``{"error": ...}`` answer for anything a control endpoint refuses."""
    if isinstance(exc, ObjectNotFound):
        status = 404
    elif isinstance(exc, Conflict):
        status = 409
    elif isinstance(exc, InvalidRequest):
        status = 400
    else:
        return Response({"error": "internal error"}, status_code=500)
    assert isinstance(exc, SandboxError)
    return Response({"error": exc.message}, status_code=status)


async def decode_body(
    request: Request[Any, Any, Any], kind: type[T], *, empty: T | None = None
) -> T:
    """The JSON body as ``kind``; anything msgspec refuses becomes a 400."""
    raw = await request.body()
    if empty is not None and not raw.strip():
        return empty
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(str(exc)) from exc


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ObjectNotFound(f"no object has id {value!r}") from exc


def _transaction_view(
    sandbox: NamedDependency[SandboxState], transaction: TransactionRecord
) -> SandboxTransaction:
    return SandboxTransaction(
        id=str(transaction.id),
        customerId=str(transaction.customer_id),
        purseId=str(transaction.purse_id),
        address=sandbox.purse(transaction.purse_id).address,
        currency=transaction.currency,
        amount=format(transaction.amount, "f"),  # str() would say 1E-8 for 0.00000001
        addressFrom=transaction.address_from,
        transactionHash=transaction.transaction_hash,
        transactionState=transaction.state,
        complianceState=transaction.compliance,
        translationToAccountCompleted=transaction.credited,
        createdDate=rfc3339(transaction.created_us),
    )


def _purse_view(purse: PurseRecord) -> SandboxPurse:
    return SandboxPurse(
        id=str(purse.id),
        customerId=str(purse.customer_id),
        address=purse.address,
        currencies=currencies_of(purse.network),
        createdDate=rfc3339(purse.created_us),
        expired=purse.expired,
    )
