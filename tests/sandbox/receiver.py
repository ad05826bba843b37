"""A webhook receiver to serve on a real socket: it records what arrives, byte for byte.

It is a bare ASGI app, so nothing between the socket and the test re-reads or re-encodes a
body. It runs on the server's thread while tests read it from theirs, hence the lock.
A test can script failing answers (``answer_next``) and hold every answer back (``hold``) to
show that the sandbox does not wait for its receiver.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._statuses: deque[int] = deque()
        self._released = threading.Event()
        self._released.set()

    # --- what tests call -------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._statuses.clear()
        self._released.set()

    def answer_next(self, *statuses: int) -> None:
        """The next answers, in order; 200 once they are used up."""
        with self._lock:
            self._statuses.extend(statuses)

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """Exactly ``count`` requests once at least that many arrived; polls, never sleeps long."""
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {len(self.received)} webhooks, expected {count}")
            await asyncio.sleep(0.01)
        received = self.received
        assert len(received) == count, [r.body for r in received]
        return received

    # --- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self._received.append(Received(scope["path"], headers, body))
            status = self._statuses.popleft() if self._statuses else 200
        # A threading.Event, set from the test's thread; an asyncio.Event could not be.
        while not self._released.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
