"""A redis-server with append-only persistence that a test can kill, pause and bring back.

It keeps its port and data directory across restarts, so clients reconnect to the same
address and find what the fsync policy kept.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bridge.local_redis import free_port

__all__ = ["RestartableRedis", "restartable_redis"]


class RestartableRedis:
    def __init__(self, directory: Path, port: int, fsync: str) -> None:
        self.directory = directory
        self.port = port
        self.fsync = fsync
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed (apt-get install redis-server)"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.fsync,
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not come up (or is still loading its AOF)")

    def kill(self) -> None:
        """SIGKILL: whatever the fsync policy did not write yet is gone."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: the server still accepts connections (the kernel does) but answers
        nothing, as a Redis stuck on a slow disk or a frozen VM would."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()  # a stopped process would not act on SIGTERM
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@contextlib.contextmanager
def restartable_redis(fsync: str = "everysec") -> Iterator[RestartableRedis]:
    with tempfile.TemporaryDirectory(prefix="bridge-aof-") as directory:
        server = RestartableRedis(Path(directory), free_port(), fsync)
        server.start()
        try:
            yield server
        finally:
            server.stop()
