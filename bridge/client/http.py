"""``BridgeClient`` and ``AsyncBridgeClient``: every ``/v1`` route as a typed method.

Both take their methods from :class:`Operations` (one description, :mod:`.operations`) and
differ only in how they send and wait. A problem answer raises a
:class:`~bridge.client.problems.BridgeProblem`; 503 and 409-in-flight are retried honouring
``Retry-After`` (bounded by :class:`~bridge.client.transport.RetryPolicy`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Self, TypeVar

import httpx

from bridge.client import operations as ops
from bridge.client.calls import Page, Request, Route
from bridge.client.transport import RetryPolicy, Sending, delay_before_retry, outcome

__all__ = ["AsyncBridgeClient", "BridgeClient", "Operations"]

T = TypeVar("T")


class Operations:
    """The operations both clients have (see :mod:`bridge.client.operations`)."""

    create_customer = ops.create_customer
    find_customers = ops.find_customers
    get_customer = ops.get_customer
    update_customer = ops.update_customer
    block_customer = ops.block_customer
    unblock_customer = ops.unblock_customer
    issue_address = ops.issue_address
    list_purses = ops.list_purses
    list_transactions = ops.list_transactions
    iter_transactions = ops.iter_transactions
    get_transaction = ops.get_transaction
    watch = ops.watch
    unwatch = ops.unwatch
    watch_status = ops.watch_status
    list_events = ops.list_events
    iter_events = ops.iter_events
    get_event = ops.get_event
    read_event_stream = ops.read_event_stream
    list_event_types = ops.list_event_types
    get_event_type = ops.get_event_type
    redeliver = ops.redeliver
    create_subscription = ops.create_subscription
    list_subscriptions = ops.list_subscriptions
    get_subscription = ops.get_subscription
    update_subscription = ops.update_subscription
    delete_subscription = ops.delete_subscription
    rotate_secret = ops.rotate_secret
    send_test = ops.send_test
    replay = ops.replay
    list_deliveries = ops.list_deliveries
    iter_deliveries = ops.iter_deliveries
    list_dead_letters = ops.list_dead_letters
    list_audit = ops.list_audit
    iter_audit = ops.iter_audit
    forward_calypso_webhook = ops.forward_calypso_webhook
    forward_calypso_webhook_of_account = ops.forward_calypso_webhook_of_account


def _headers(token: str, account: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if account is not None:
        headers["Calypso-Account"] = account
    return headers


class BridgeClient(Operations):
    """Blocking client: ``BridgeClient(base_url, token, account=None)``; close it or use
    ``with``. ``http`` may be a prepared ``httpx.Client`` (proxies, TLS, transport)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        account: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http or httpx.Client(timeout=timeout)
        self._base = base_url.rstrip("/")
        self._headers = _headers(token, account)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"BridgeClient({self._base!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, route: Route, request: Request[T]) -> T:
        sending = Sending.of(route, request)
        attempt = 0
        while True:
            response = self._http.request(
                sending.method,
                self._base + sending.url,
                params=sending.params,
                headers={**self._headers, **sending.headers},
                content=sending.content,
            )
            delay = delay_before_retry(response, attempt, self._retry)
            if delay is None:
                return outcome(response, request)
            attempt += 1
            self._sleep(delay)

    def _walk(self, route: Route, build: Callable[[str | None], Request[Page[T]]]) -> Iterator[T]:
        position: str | None = None
        while True:
            page = self._send(route, build(position))
            yield from page.items
            if page.next is None or not page.items:
                return
            position = page.next


class AsyncBridgeClient(Operations):
    """The same methods as :class:`BridgeClient`, as coroutines (``iter_…`` are async
    iterators); use ``async with`` or ``await client.aclose()``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        account: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._base = base_url.rstrip("/")
        self._headers = _headers(token, account)
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"AsyncBridgeClient({self._base!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, route: Route, request: Request[T]) -> T:
        sending = Sending.of(route, request)
        attempt = 0
        while True:
            response = await self._http.request(
                sending.method,
                self._base + sending.url,
                params=sending.params,
                headers={**self._headers, **sending.headers},
                content=sending.content,
            )
            delay = delay_before_retry(response, attempt, self._retry)
            if delay is None:
                return outcome(response, request)
            attempt += 1
            await asyncio.sleep(delay)

    async def _walk(
        self, route: Route, build: Callable[[str | None], Request[Page[T]]]
    ) -> AsyncIterator[T]:
        position: str | None = None
        while True:
            page = await self._send(route, build(position))
            for item in page.items:
                yield item
            if page.next is None or not page.items:
                return
            position = page.next
