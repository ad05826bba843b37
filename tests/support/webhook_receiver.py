"""A scriptable webhook receiver on a real socket, recording every request byte for byte.

Tests script its answers per path (status, headers, a delay before answering) and read what
arrived, with arrival times. It is a bare ASGI app, so nothing re-encodes a body between the
socket and the test; it runs on the server's thread, hence the lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "Arrival", "WebhookReceiver"]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"


@dataclass(frozen=True, slots=True)
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request arrived


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._scripted: dict[str, deque[Answer]] = defaultdict(deque)
        self._default: dict[str, Answer] = {}

    def answer_next(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._scripted[path].extend(answers)

    def answer_always(self, path: str, answer: Answer) -> None:
        with self._lock:
            self._default[path] = answer

    def arrivals(self, path: str | None = None) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if path is None or a.path == path]

    async def wait_for(
        self, count: int, path: str | None = None, within: float = 10.0
    ) -> list[Arrival]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.arrivals(path)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} requests at {path}, got {len(self.arrivals(path))}")

    def _answer(self, path: str) -> Answer:
        with self._lock:
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
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        arrival = Arrival(scope["path"], headers, body, time.time())
        with self._lock:
            self._arrivals.append(arrival)
        answer = self._answer(scope["path"])
        if answer.delay:
            await asyncio.sleep(answer.delay)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(k.encode(), v.encode()) for k, v in answer.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
