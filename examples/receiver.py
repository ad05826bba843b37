"""A webhook receiver for the bridge inside a web framework (Litestar), using the client kit.

The four things every receiver needs:

1. verify the raw body with :func:`bridge.client.verify_webhook` before trusting anything;
2. answer 2xx at once and do the work afterwards (here: an in-process queue), so a slow
   handler never makes the bridge time out and retry;
3. drop duplicates by ``webhook-id`` (the event id): delivery is at least once;
4. drop stale states: per transaction, handle only a ``data.sequence`` higher than the last
   handled (a retried old state can arrive after a newer one); acknowledge it all the same.

Run it with the subscription's secret (two, comma-separated, while a rotation overlaps)::

    BRIDGE_RECEIVER_SECRET=whsec_... python -m examples.receiver   # POST :9000/webhooks

What it remembers lives in memory: a real receiver keeps the handled ids and sequences in
its own database, written in the same transaction as the effect of the event.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, post
from litestar.response import Response

from bridge.client import Event, WebhookVerificationError, verify_webhook
from bridge.client.models import TransactionData

Handler = Callable[[Event], Awaitable[None]]


class Receiver:
    """Takes verified events in arrival order and hands each new, current one to ``handle``."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.seen: set[str] = set()  # webhook-ids already taken
        self.sequences: dict[str, int] = {}  # transaction id -> highest sequence handled
        self.duplicates: list[str] = []  # ids dropped, kept for the curious (and the test)
        self.stale: list[str] = []

    async def work(self) -> None:
        """One event at a time, so the checks below never race each other."""
        while True:
            event = await self.queue.get()
            if self.is_new(event):
                await self.handle(event)
            self.queue.task_done()

    def is_new(self, event: Event) -> bool:
        if event.id in self.seen:
            self.duplicates.append(event.id)
            return False
        self.seen.add(event.id)
        if isinstance(event.data, TransactionData):
            transaction, sequence = event.data.transaction.id, event.data.sequence
            if sequence <= self.sequences.get(transaction, 0):
                self.stale.append(event.id)
                return False
            self.sequences[transaction] = sequence
        return True


def create_app(secrets: Sequence[str], receiver: Receiver) -> Litestar:
    @post("/webhooks", status_code=204)
    async def webhooks(request: Request[Any, Any, Any]) -> Response[str]:
        body = await request.body()  # the raw bytes: the signature covers exactly these
        try:
            event = verify_webhook(secrets, body, request.headers)
        except WebhookVerificationError as wrong:
            return Response(wrong.reason, status_code=401)  # the bridge will try again
        receiver.queue.put_nowait(event)
        return Response("", status_code=204)

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
