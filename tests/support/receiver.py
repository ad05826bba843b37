"""One webhook receiver on a real socket for every suite: it records each request byte for
byte, answers as a test scripts it, and can hold every answer back.

It is a bare ASGI app, so nothing between the socket and the test re-reads or re-encodes a
body. It runs on the server's thread while tests read it from theirs, hence the lock. Tests
script answers per path (status, headers, a delay before answering: a slow receiver), or hold
all answers (``hold``/``release``) to show that a sender does not wait for its receiver.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.sandbox_server import serve_in_thread
from tests.support.waiting import eventually

__all__ = ["Answer", "Arrival", "WebhookReceiver", "serve_receiver"]

Headers = Mapping[str, str] | Callable[[], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    # A callable is asked when the answer is sent (a Retry-After date relative to that moment).
    headers: Headers = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"

    def header_items(self) -> list[tuple[bytes, bytes]]:
        headers = self.headers() if callable(self.headers) else self.headers
        return [(k.encode(), v.encode()) for k, v in headers.items()]


@dataclass(frozen=True, slots=True)
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request arrived


class WebhookReceiver:
    def __init__(self) -> None:
        self.url = ""  # set once served (see serve_receiver)
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._scripted: dict[str, deque[Answer]] = defaultdict(deque)
        self._by_event: dict[str, deque[Answer]] = defaultdict(deque)
        self._default: dict[str, Answer] = {}
        # A threading.Event: set from the test's thread, which an asyncio.Event cannot be.
        self._released = threading.Event()
        self._released.set()

    # --- what tests call -------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._arrivals.clear()
            self._scripted.clear()
            self._by_event.clear()
            self._default.clear()
        self._released.set()

    def answer_next(self, path: str, *answers: Answer) -> None:
        """The next answers at ``path``, in order; then the ``answer_always`` one (or 200)."""
        with self._lock:
            self._scripted[path].extend(answers)

    def answer_event(self, webhook_id: str, *answers: Answer) -> None:
        """The next answers to the event ``webhook_id`` at any path, in order (before the
        path's own): one customer's event fails while the others at the URL succeed."""
        with self._lock:
            self._by_event[webhook_id].extend(answers)

    def answer_always(self, path: str, answer: Answer) -> None:
        with self._lock:
            self._default[path] = answer

    def hold(self) -> None:
        """Record what arrives but answer nothing until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def arrivals(self, path: str | None = None) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if path is None or a.path == path]

    async def wait_for(
        self, count: int, path: str | None = None, *, within: float = 10.0, exactly: bool = False
    ) -> list[Arrival]:
        """Every arrival (at ``path``) once there are at least ``count``; with ``exactly``,
        more than ``count`` by then fails."""

        def enough() -> list[Arrival]:
            arrivals = self.arrivals(path)
            return arrivals if len(arrivals) >= count else []

        found = await eventually(
            enough, within=within, what=f"{count} requests at {path or 'any path'}"
        )
        assert not exactly or len(found) == count, [a.body for a in found]
        return found

    # --- ASGI ------------------------------------------------------------------------------

    def _answer(self, path: str, webhook_id: str) -> Answer:
        with self._lock:
            if self._by_event[webhook_id]:
                return self._by_event[webhook_id].popleft()
            if self._scripted[path]:
                return self._scripted[path].popleft()
            return self._default.get(path, Answer())

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Any],
        send: Callable[[dict[str, Any]], Any],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self._arrivals.append(Arrival(scope["path"], headers, body, time.time()))
        answer = self._answer(scope["path"], headers.get("webhook-id", ""))
        while not self._released.is_set():  # held by the test, until it releases
            await asyncio.sleep(0.01)
        if answer.delay:
            await asyncio.sleep(answer.delay)  # a slow receiver: the behaviour under test
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": answer.header_items(),
            }
        )
        await send({"type": "http.response.body", "body": answer.body})


@contextmanager
def serve_receiver() -> Iterator[WebhookReceiver]:
    """A receiver listening on 127.0.0.1 (its ``url``) until the block ends."""
    receiver = WebhookReceiver()
    with serve_in_thread(receiver) as server:
        receiver.url = server.url
        try:
            yield receiver
        finally:
            receiver.release()  # never leave a sender waiting on a held answer
