"""A webhook receiver for the bridge inside a web framework (Litestar), using the client kit.

The four things every receiver needs:

1. verify the raw body with :func:`bridge.client.verify_webhook` before trusting anything;
2. answer 2xx at once and do the work afterwards (here: an in-process queue), so a slow
   handler never makes the bridge time out and retry;
3. drop duplicates by ``webhook-id`` (the event id): delivery is at least once;
4. drop stale states: per transaction, handle only a ``data.sequence`` higher than the last
   handled (a retried old state can arrive after a newer one, or after its id is forgotten);
   acknowledge it all the same.

Run it with the subscription's secret (two, comma-separated, while a rotation overlaps)::

    BRIDGE_RECEIVER_SECRET=whsec_... python -m examples.receiver   # POST :9000/webhooks

What it remembers lives in memory: a real receiver keeps the handled ids and sequences in
its own database, written in the same transaction as the effect of the event.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, post
from litestar.response import Response

from bridge.client import Event, WebhookVerificationError, verify_webhook
from bridge.client.models import TransactionData

Handler = Callable[[Event], Awaitable[None]]
log = logging.getLogger(__name__)


class Receiver:
    """Takes verified events in arrival order and hands each new, current one to ``handle``."""

    def __init__(self, handle: Handler, *, remember: int = 100_000) -> None:
        self.handle = handle
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.remember = remember  # how many webhook-ids to keep; the oldest go first
        self.seen: dict[str, None] = {}  # webhook-ids taken, oldest first
        self.sequences: dict[str, int] = {}  # transaction id -> highest sequence handled
        self.duplicates: list[str] = []  # ids dropped, kept for the curious (and the test)
        self.stale: list[str] = []

    async def work(self) -> None:
        """One event at a time, so the checks below never race each other."""
        while True:
            event = await self.queue.get()
            try:
                if self.is_new(event):
                    await self.handle(event)
            except Exception:  # one bad event must not stop the rest
                log.exception("handling %s failed", event.id)
            self.queue.task_done()

    def is_new(self, event: Event) -> bool:
        if event.id in self.seen:
            self.duplicates.append(event.id)
            return False
        self.seen[event.id] = None
        if len(self.seen) > self.remember:
            del self.seen[next(iter(self.seen))]  # a forgotten id that comes back is stale
        if isinstance(event.data, TransactionData):
            transaction, sequence = event.data.transaction.id, event.data.sequence
            if sequence <= self.sequences.get(transaction, 0):
                self.stale.append(event.id)
                return False
            self.sequences[transaction] = sequence
        return True


def create_app(secrets: Sequence[str], receiver: Receiver) -> Litestar:
    @post("/webhooks", status_code=202)
    async def webhooks(request: Request[Any, Any, Any]) -> Response[str]:
        body = await request.body()  # the raw bytes: the signature covers exactly these
        try:
            event = verify_webhook(secrets, body, request.headers)
        except WebhookVerificationError as wrong:
            return Response(wrong.reason, status_code=401)  # the bridge will try again
        receiver.queue.put_nowait(event)
        return Response("queued", status_code=202)  # accepted; handled just after

    @asynccontextmanager
    async def working(app: Litestar) -> AsyncIterator[None]:
        task = asyncio.create_task(receiver.work())
        try:
            yield
        finally:
            task.cancel()

    return Litestar([webhooks], lifespan=[working])


async def show(event: Event) -> None:
    """Stands in for the real work: credit the deposit, email the customer, …"""
    sequence = event.data.sequence if isinstance(event.data, TransactionData) else "-"
    print(event.type, event.id, sequence, flush=True)


if __name__ == "__main__":
    import uvicorn

    secrets = [s for s in os.environ["BRIDGE_RECEIVER_SECRET"].split(",") if s.strip()]
    uvicorn.run(create_app(secrets, Receiver(show)), host="127.0.0.1", port=9000)
