"""Per-request observability: a request id, one log line, and the request metrics.

The id comes from ``X-Request-ID`` when the caller sends a sane one (so a trace crosses
services), else a fresh one; it is bound to every log line of the request and returned in
the answer. Routes are labelled by their template, never by the ids inside a path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bridge.metrics import Metrics

__all__ = ["RequestObserver"]

log = logging.getLogger("bridge.api.requests")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestObserver(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await next_app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = str(scope.get("path_template") or "unmatched")
            method = str(scope.get("method", ""))
            self._metrics.api_requests.labels(route, method, str(status)).inc()
            self._metrics.api_seconds.labels(route).observe(seconds)
            log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                },
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _request_id(scope: Scope) -> str:
    headers: Any = scope.get("headers", [])
    for name, value in headers:
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if _SANE_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex
