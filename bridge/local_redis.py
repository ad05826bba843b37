"""A throw-away ``redis-server`` for development mode and tests, when no Redis is running."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["INSTALL_HINT", "free_port", "redis_server_process"]

INSTALL_HINT = (
    "install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install "
    "redis), or point BRIDGE_REDIS_URL (tests: BRIDGE_TEST_REDIS_URL) at a running Redis"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server_process(*extra: str) -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port; yield its URL; stop it on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"no redis-server on PATH: {INSTALL_HINT}")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bridge-redis-") as workdir:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", workdir, *extra]
        process = subprocess.Popen(  # noqa: S603 - our own fixed arguments
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_for_port(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
