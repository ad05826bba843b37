"""The sandbox application: Calypso's ten endpoints plus the ``/sandbox`` control endpoints.

Run it with any ASGI server; tests start it in a thread (``tests/support/sandbox_server.py``).
Its whole memory is ``app.state.sandbox``, a :class:`~bridge.sandbox.state.SandboxState`.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException

from bridge.calypso.endpoints import BASE_PATH
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.controls import SandboxControls, control_error
from bridge.sandbox.state import SandboxState
from bridge.sandbox.upstream import CalypsoEndpoints, calypso_error

__all__ = ["SandboxConfig", "create_sandbox_app"]


def create_sandbox_app(config: SandboxConfig) -> Litestar:
    state = SandboxState(seed=config.seed)

    def provide_sandbox() -> SandboxState:
        return state

    return Litestar(
        route_handlers=[*CalypsoEndpoints(config, state).route_handlers(), SandboxControls],
        dependencies={"sandbox": Provide(provide_sandbox, sync_to_thread=False)},
        # App level, because unknown paths and wrong methods never reach a route's handlers.
        exception_handlers={Exception: _on_exception},
        state=State({"sandbox": state}),
        openapi_config=None,
        # Litestar's default would reconfigure the root logger of whatever process hosts us.
        logging_config=None,
    )


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
