"""Calypso's own purse webhooks, as the sandbox sends them to one subscribed URL.

State changes call :meth:`CalypsoWebhooks.publish` synchronously; it freezes the body bytes
at once (so a later change cannot alter an event already produced) and queues them. One
sender task, started and stopped by the app's lifespan, posts them in the order they were
produced, signed like Calypso signs (``Key``, and ``Sign`` = HMAC-SHA512 of the body with
the subscription's secret). A failed attempt is retried after 0.2, 0.5 and 1 s and then
dropped: the sandbox never blocks or crashes on a receiver. Changing, disabling or
resetting the subscription drops whatever is still pending for the old one, so one test's
retries cannot leak into the next test's counters.

Event ids increase strictly and are at least the unix time in milliseconds they were made
at, so they do not repeat when the sandbox restarts: receivers (the bridge among them)
remember ids for days to drop Calypso's duplicates, and would drop a restarted sandbox's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import msgspec

from bridge.calypso.signing import sign
from bridge.sandbox.purse_events import PurseEventData, PurseEventType, PurseWebhook
from bridge.sandbox.records import (
    Conflict,
    CustomerRecord,
    ObjectNotFound,
    PurseRecord,
    TransactionRecord,
)

__all__ = ["RETRY_DELAYS", "CalypsoWebhooks", "subscription_id_for"]

logger = logging.getLogger(__name__)

# Pause before each retry; the first attempt goes at once.
RETRY_DELAYS = (0.2, 0.5, 1.0)
# Produced events kept for ``resend``; and deliveries allowed to wait for a slow receiver.
_KEPT_EVENTS = 10_000
_MAX_PENDING = 10_000


@dataclass(frozen=True, slots=True)
class _Subscription:
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class _Delivery:
    event_id: int
    body: bytes
    subscription: _Subscription
    generation: int


def subscription_id_for(seed: int | None) -> uuid.UUID:
    """The ``requestId`` every webhook carries; reproducible when the sandbox is seeded."""
    if seed is None:
        return uuid.uuid4()
    # A generator of its own, so the subscription never shares an id with a customer.
    return uuid.UUID(bytes=random.Random(f"calypso-webhooks/{seed}").randbytes(16), version=4)


class CalypsoWebhooks:
    """The subscription, the events produced for it, and the task that delivers them."""

    def __init__(
        self,
        *,
        api_key: str,
        subscription_id: uuid.UUID,
        url: str | None = None,
        secret: str | None = None,
    ) -> None:
        self._api_key = api_key
        self.subscription_id = subscription_id
        self._configured = _Subscription(url, secret) if url and secret else None
        self._subscription = self._configured
        # Bumped on every change of subscription; deliveries of an older one are dropped.
        self._generation = 0
        self._last_id = 0
        self._events: dict[int, bytes] = {}
        self.sent = 0
        self.failed = 0
        self._encoder = msgspec.json.Encoder(decimal_format="number")
        self._queue: asyncio.Queue[_Delivery] | None = None
        self._task: asyncio.Task[None] | None = None

    # --- the subscription ----------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        return self._subscription.url if self._subscription else None

    def subscribe(self, url: str, secret: str) -> None:
        """A new subscription: counters restart, pending deliveries to the old one are dropped."""
        self._subscription = _Subscription(url, secret)
        self._restart()

    def unsubscribe(self) -> None:
        self._subscription = None
        self._generation += 1

    def reset(self) -> None:
        """Back to the configured subscription; event ids keep increasing (receivers dedupe)."""
        self._subscription = self._configured
        self._events.clear()
        self._restart()

    def _restart(self) -> None:
        self._generation += 1
        self.sent = self.failed = 0

    # --- producing -----------------------------------------------------------------------------

    def publish(
        self,
        event_type: PurseEventType,
        customer: CustomerRecord,
        purse: PurseRecord,
        transaction: TransactionRecord | None,
    ) -> None:
        """Produce one event, if subscribed; called inside state changes, so it never raises."""
        if self._subscription is None:
            return
        try:
            self._last_id = max(self._last_id + 1, time.time_ns() // 1_000_000)
            body = self._encoder.encode(
                PurseWebhook(
                    requestId=str(self.subscription_id),
                    id=self._last_id,
                    createdDate=_calypso_now(),
                    level="INFO",
                    service="CUSTOMER_PURSE",
                    eventType=event_type,
                    data=PurseEventData.of(customer, purse, transaction),
                )
            )
            self._events[self._last_id] = body
            if len(self._events) > _KEPT_EVENTS:
                del self._events[next(iter(self._events))]
            self._enqueue(self._last_id, body)
        except Exception:
            logger.warning("sandbox webhook: could not produce %s", event_type, exc_info=True)

    def resend(self, event_id: int) -> None:
        """Deliver a produced event again, byte for byte, as Calypso sometimes does."""
        body = self._events.get(event_id)
        if body is None:
            raise ObjectNotFound(f"no webhook event {event_id} is kept")
        if self._subscription is None:
            raise Conflict("webhooks are disabled; PUT /sandbox/webhooks first")
        self._enqueue(event_id, body)

    def _enqueue(self, event_id: int, body: bytes) -> None:
        assert self._subscription is not None
        if self._queue is None:
            logger.warning("sandbox webhook %d not sent: the sender is not running", event_id)
            return
        delivery = _Delivery(event_id, body, self._subscription, self._generation)
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.failed += 1
            logger.warning("sandbox webhook %d dropped: %d already pending", event_id, _MAX_PENDING)

    # --- delivering ----------------------------------------------------------------------------

    async def start(self, client: httpx.AsyncClient) -> None:
        """Start the one sender task; ``client`` stays the caller's to close, after :meth:`stop`."""
        if self._task is not None:
            return
        self._queue = asyncio.Queue(maxsize=_MAX_PENDING)
        self._task = asyncio.create_task(self._send_all(self._queue, client), name="webhooks")

    async def stop(self) -> None:
        """Cancel the sender; events still pending are dropped. Safe to call twice."""
        task, queue = self._task, self._queue
        self._task = self._queue = None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if queue is not None and not queue.empty():
            logger.info("sandbox webhooks: %d pending event(s) dropped at shutdown", queue.qsize())

    async def _send_all(self, queue: asyncio.Queue[_Delivery], client: httpx.AsyncClient) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery, client)
            except Exception:
                # One bad event must not stop the events behind it.
                logger.warning("sandbox webhook %d dropped", delivery.event_id, exc_info=True)

    async def _deliver(self, delivery: _Delivery, client: httpx.AsyncClient) -> None:
        attempts = len(RETRY_DELAYS) + 1
        for attempt, pause in enumerate((0.0, *RETRY_DELAYS), start=1):
            if pause:
                await asyncio.sleep(pause)
            if delivery.generation != self._generation:
                return
            problem = await self._attempt(delivery, client)
            if delivery.generation != self._generation:
                return  # counters belong to the new subscription now
            if problem is None:
                self.sent += 1
                return
            self.failed += 1
            logger.warning(
                "sandbox webhook %d to %s failed (attempt %d of %d): %s",
                delivery.event_id,
                _without_credentials(delivery.subscription.url),
                attempt,
                attempts,
                problem,
            )
        logger.warning("sandbox webhook %d dropped after %d attempts", delivery.event_id, attempts)

    async def _attempt(self, delivery: _Delivery, client: httpx.AsyncClient) -> str | None:
        """``None`` on a 2xx answer, else what went wrong (never the secret)."""
        headers = {
            "Content-Type": "application/json",
            "Key": self._api_key,
            "Sign": sign(delivery.body, delivery.subscription.secret),
        }
        try:
            response = await client.post(
                delivery.subscription.url, content=delivery.body, headers=headers
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return None
        return f"HTTP {response.status_code}"


def _calypso_now() -> str:
    # Calypso writes a local timestamp without a zone; the sandbox writes UTC the same way.
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
