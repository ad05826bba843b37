"""The one way the bridge talks to Calypso.

Each call wraps its payload in the account envelope, stamps it with the current time in
milliseconds, encodes it once and signs exactly those bytes; a retry builds a fresh envelope
(the timestamp must stay within Calypso's 3-minute window) and signs it again. Answers are
decoded straight into the wire models, so amounts arrive as exact ``Decimal``. Failures leave
as :mod:`bridge.calypso.errors` exceptions; no httpx exception crosses this module.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import msgspec

from bridge.calypso import endpoints, models
from bridge.calypso.endpoints import Endpoint
from bridge.calypso.errors import (
    AUTH_ERROR_CODES,
    NOT_FOUND_CODE,
    CalypsoAuthFailed,
    CalypsoError,
    CalypsoNotFound,
    CalypsoProtocolError,
    CalypsoRateLimited,
    CalypsoRejected,
    CalypsoTimeout,
    CalypsoUnavailable,
)
from bridge.calypso.hooks import UpstreamHooks
from bridge.calypso.retry import RetryPolicy
from bridge.calypso.signing import sign

__all__ = ["CalypsoClient"]

log = logging.getLogger(__name__)
R = TypeVar("R", bound=msgspec.Struct)

_encoder = msgspec.json.Encoder()
_error_decoder = msgspec.json.Decoder(models.ErrorResponse)


class CalypsoClient:
    def __init__(
        self,
        *,
        base_url: str,
        account: str,
        api_key: str,
        api_secret: str,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        hooks: UpstreamHooks | None = None,
    ) -> None:
        self._account = account
        self._secret = api_secret
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._hooks = hooks
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            follow_redirects=False,
        )
        self._base_url = base_url.rstrip("/")
        self._headers = {"Key": api_key, "Content-Type": "application/json"}
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- customers -----------------------------------------------------------------------

    async def create_customer(self, request: models.CustomerCreate) -> models.Customer:
        """Create a customer without ever creating two.

        A create that fails in transit may still have landed upstream, so it is never
        retried blindly. With an ``externalId`` the outcome can be learnt: look the id up
        and return what is there, and only create again when nothing is. Without one there
        is no way to tell a lost answer from a lost request, so the failure is raised and
        the caller decides (the API tells its caller to retry with an ``externalId``).
        """
        if request.externalId is None:
            return await self._call(endpoints.CUSTOMER_CREATE, request, models.Customer)
        retried = False
        async for attempt in self._retry.retrying():
            with attempt:
                if retried:
                    existing = await self.find_customers_by_external_id(request.externalId)
                    if existing:
                        return existing[0]
                retried = True
                return await self._call(endpoints.CUSTOMER_CREATE, request, models.Customer)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def get_customer(self, customer_id: uuid.UUID) -> models.Customer:
        return await self._read(
            endpoints.CUSTOMER_GET, models.ByCustomerId(customer_id), models.Customer
        )

    async def find_customers_by_external_id(self, external_id: str) -> list[models.Customer]:
        found = await self._read(
            endpoints.CUSTOMER_BY_EXTERNAL_ID,
            models.ByExternalId(external_id),
            models.CustomerList,
        )
        return found.customers

    async def update_customer(self, request: models.CustomerUpdate) -> models.Customer:
        return await self._call(endpoints.CUSTOMER_UPDATE, request, models.Customer)

    async def block_customer(self, customer_id: uuid.UUID) -> models.Customer:
        return await self._call(
            endpoints.CUSTOMER_BLOCK, models.ByCustomerId(customer_id), models.Customer
        )

    async def unblock_customer(self, customer_id: uuid.UUID) -> models.Customer:
        return await self._call(
            endpoints.CUSTOMER_UNBLOCK, models.ByCustomerId(customer_id), models.Customer
        )

    # -- purses and transactions --------------------------------------------------------

    async def get_purse_address(self, customer_id: uuid.UUID, currency: str) -> models.Purse:
        return await self._call(
            endpoints.ADDRESS_GET,
            models.PurseAddressRequest(customer_id, currency),
            models.Purse,
        )

    async def get_purses(self, customer_id: uuid.UUID) -> list[models.Purse]:
        found = await self._read(
            endpoints.PURSES_GET_ALL, models.ByCustomerId(customer_id), models.PurseList
        )
        return found.purses

    async def get_transaction(self, transaction_id: uuid.UUID) -> models.Transaction:
        return await self._read(
            endpoints.TRANSACTION_GET,
            models.ByTransactionId(transaction_id),
            models.Transaction,
        )

    async def find_transactions(self, search: models.TransactionSearch) -> models.TransactionPage:
        return await self._read(endpoints.TRANSACTION_FIND, search, models.TransactionPage)

    # -- transport -----------------------------------------------------------------------

    async def _read(self, endpoint: Endpoint, payload: msgspec.Struct, answer: type[R]) -> R:
        assert endpoint.read, f"{endpoint.name} changes state and must not be retried blindly"
        async for attempt in self._retry.retrying():
            with attempt:
                return await self._call(endpoint, payload, answer)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def _call(self, endpoint: Endpoint, payload: msgspec.Struct, answer: type[R]) -> R:
        envelope = models.Envelope(
            account=self._account, timestamp=int(self._clock() * 1000), payload=payload
        )
        body = _encoder.encode(envelope)
        headers = {**self._headers, "Sign": sign(body, self._secret)}
        if self._hooks is not None:
            await self._hooks.before(endpoint.name)
        started = time.perf_counter()
        try:
            response = await self._http.post(
                self._base_url + endpoint.path, content=body, headers=headers
            )
        except httpx.TimeoutException as exc:
            await self._after(endpoint, "timeout", started)
            raise CalypsoTimeout("no answer in time", operation=endpoint.name) from exc
        except httpx.HTTPError as exc:
            await self._after(endpoint, "error", started)
            raise CalypsoUnavailable(
                f"transport error: {type(exc).__name__}", operation=endpoint.name
            ) from exc
        retry_after = _retry_after(response) if response.status_code == 429 else None
        await self._after(endpoint, str(response.status_code), started, retry_after)
        if response.status_code == 200:
            try:
                return self._decoder(answer).decode(response.content)  # type: ignore[no-any-return]
            except msgspec.DecodeError as exc:
                raise CalypsoProtocolError(
                    f"unexpected answer: {exc}", operation=endpoint.name, status=200
                ) from exc
        raise _failure(endpoint, response)

    async def _after(
        self, endpoint: Endpoint, outcome: str, started: float, retry_after: float | None = None
    ) -> None:
        seconds = time.perf_counter() - started
        log.debug("calypso call", extra={"endpoint": endpoint.name, "outcome": outcome})
        if self._hooks is not None:
            await self._hooks.after(endpoint.name, outcome, seconds, retry_after)

    def _decoder(self, answer: type[Any]) -> msgspec.json.Decoder[Any]:
        decoder = self._decoders.get(answer)
        if decoder is None:
            decoder = self._decoders[answer] = msgspec.json.Decoder(answer)
        return decoder


def _failure(endpoint: Endpoint, response: httpx.Response) -> CalypsoError:
    status = response.status_code
    if status == 429:
        return CalypsoRateLimited(
            "rate limited", operation=endpoint.name, retry_after=_retry_after(response)
        )
    try:
        error = _error_decoder.decode(response.content)
    except msgspec.DecodeError:
        error = None
    details: dict[str, Any] = {"operation": endpoint.name, "status": status}
    if error is not None:
        details |= {"error_code": error.errorCode, "trace_id": error.traceId}
    message = error.message if error is not None else f"HTTP {status} without an error document"
    if status >= 500:
        return CalypsoUnavailable(message, **details)
    if error is None:
        return CalypsoProtocolError(message, **details)
    if error.errorCode == NOT_FOUND_CODE:
        return CalypsoNotFound(message, **details)
    if error.errorCode in AUTH_ERROR_CODES:
        return CalypsoAuthFailed(message, **details)
    return CalypsoRejected(message, **details)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
