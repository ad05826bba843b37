"""Run any ASGI app on a real socket in a background thread, for tests that talk HTTP.

The server gets its own event loop in its own thread, so a test's client, on the test's loop,
meets it only through the socket, exactly as the bridge meets Calypso.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["RunningServer", "serve_in_thread"]


@dataclass(frozen=True, slots=True)
class RunningServer:
    url: str
    app: Any


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    startup_timeout: float = 10.0,
    shutdown_grace: int = 2,
    server: Callable[[uvicorn.Config], uvicorn.Server] = uvicorn.Server,
) -> Iterator[RunningServer]:
    """Serve ``app`` on 127.0.0.1 on a free port until the block ends.

    Requests still running at exit (an injected hang, say) get ``shutdown_grace`` seconds
    and are then cancelled, so a test never waits out a fault it already gave up on.
    ``server`` builds the uvicorn server (the bridge's API has its own).
    """
    # Bind first and hand uvicorn the socket: no window for another process to take the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=shutdown_grace,
        # uvicorn closes a connection idle for 5 s by default, and a client that picks it
        # from its pool at that moment reads nothing back (httpx.ReadError): a test's
        # clients may sit idle longer than that, so the test servers keep connections open.
        timeout_keep_alive=300,
    )
    running = server(config)
    thread = threading.Thread(
        target=running.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    try:
        _wait_until_serving(running, thread, port, startup_timeout)
        yield RunningServer(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        running.should_exit = True
        thread.join(shutdown_grace + 5.0)
        if thread.is_alive():
            running.force_exit = True
            thread.join(5.0)
        sock.close()


def _wait_until_serving(
    server: uvicorn.Server, thread: threading.Thread, port: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped during start-up (see its log)")
        if server.started:
            # "started" means listening; one real connection proves requests get through.
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        time.sleep(0.01)
    raise TimeoutError(f"server on port {port} did not start within {timeout} s")
