"""Serving the API with uvicorn, ending open event streams as the shutdown begins.

uvicorn's graceful shutdown waits for every open response before the app's lifespan hears
of it, and an event stream never ends by itself: without this, every SIGTERM with a stream
open would wait out ``BRIDGE_SHUTDOWN_GRACE`` and then cut the stream off.
"""

from __future__ import annotations

import socket

import uvicorn
from litestar import Litestar

__all__ = ["ApiServer"]


class ApiServer(uvicorn.Server):
    """A uvicorn server that tells the app's open streams to end when it starts to stop."""

    def __init__(self, config: uvicorn.Config, app: Litestar) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._app.state.streams.close()
        await super().shutdown(sockets)
