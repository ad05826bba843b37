"""The sandbox application: Calypso's ten endpoints plus the ``/sandbox`` control endpoints.

Run it with any ASGI server; tests start it in a thread (``tests/support/sandbox_server.py``).
Its whole memory is ``app.state.sandbox``, a :class:`~bridge.sandbox.state.SandboxState`, and
``app.state.webhooks``, the :class:`~bridge.sandbox.webhooks.CalypsoWebhooks` whose sender
task and HTTP client live as long as the app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException

from bridge.calypso.endpoints import BASE_PATH
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.controls import SandboxControls, control_error
from bridge.sandbox.state import SandboxState
from bridge.sandbox.upstream import CalypsoEndpoints, calypso_error
from bridge.sandbox.webhook_controls import WebhookControls
from bridge.sandbox.webhooks import CalypsoWebhooks, subscription_id_for

__all__ = ["SandboxConfig", "create_sandbox_app"]

# Calypso's receivers are expected to answer quickly; a slow one must not stall the others.
WEBHOOK_TIMEOUT_SECONDS = 5.0


def create_sandbox_app(config: SandboxConfig) -> Litestar:
    webhooks = CalypsoWebhooks(
        api_key=config.api_key,
        subscription_id=subscription_id_for(config.seed),
        url=config.webhook_url,
        secret=config.webhook_secret,
    )
    state = SandboxState(seed=config.seed, on_event=webhooks.publish)

    def provide_sandbox() -> SandboxState:
        return state

    def provide_webhooks() -> CalypsoWebhooks:
        return webhooks

    return Litestar(
        route_handlers=[
            *CalypsoEndpoints(config, state).route_handlers(),
            SandboxControls,
            WebhookControls,
        ],
        dependencies={
            "sandbox": Provide(provide_sandbox, sync_to_thread=False),
            "webhooks": Provide(provide_webhooks, sync_to_thread=False),
        },
        lifespan=[_sending(webhooks)],
        # App level, because unknown paths and wrong methods never reach a route's handlers.
        exception_handlers={Exception: _on_exception},
        state=State({"sandbox": state, "webhooks": webhooks}),
        openapi_config=None,
        # Litestar's default would reconfigure the root logger of whatever process hosts us.
        logging_config=None,
    )


def _sending(
    webhooks: CalypsoWebhooks,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        # Proxy settings of the host are ignored: webhooks go straight to the subscribed URL.
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS, trust_env=False) as client:
            await webhooks.start(client)
            try:
                yield
            finally:
                await webhooks.stop()

    return lifespan


def _on_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Keep each side's error shape even for routing errors (404, 405) and surprises."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if request.url.path.startswith(BASE_PATH + "/"):
        code = "001" if status < 500 else "000"
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return calypso_error(400 if status < 500 else 500, code, detail)
    if isinstance(exc, HTTPException):
        return Response({"error": exc.detail}, status_code=status)
    return control_error(exc)
