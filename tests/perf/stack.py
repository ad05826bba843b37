"""The system under test, as separate processes on 127.0.0.1, and stopping all of it.

:class:`Stack` starts a Redis, the sandbox, the webhook sink and the bridge API once per run;
each figure starts its own ``bridge worker`` (:meth:`Stack.worker`) with the environment it
needs. Every process writes to a log file under the log directory, and every process started
here is stopped when the stack closes, whatever ended the run (failure, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from bridge.local_redis import free_port, redis_server_process
from tests.perf.cpu import find_pid
from tests.support.config import SECRETS_KEYS
from tests.support.redis_server import real_redis

__all__ = [
    "ACCOUNT",
    "API_KEY",
    "API_SECRET",
    "CALYPSO_WEBHOOK_SECRET",
    "TOKEN",
    "Stack",
    "rss_bytes",
]

ACCOUNT = "0x" + "be" * 20
API_KEY, API_SECRET = "bench-key", "bench-secret"
TOKEN = "bench-token-0123456789"
CALYPSO_WEBHOOK_SECRET = "bench-calypso-webhook-secret"
STOP_TIMEOUT = 20.0


class Stack:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.redis_url = ""
        self.sandbox_url = self.sink_url = self.api_url = ""
        self._exit = contextlib.ExitStack()
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    # -- the long-lived processes ----------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*.log"):
            old.unlink()
        self.redis_url = self._exit.enter_context(_redis())
        sandbox_port, sink_port, api_port = free_port(), free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.sink_url = f"http://127.0.0.1:{sink_port}"
        self.api_url = f"http://127.0.0.1:{api_port}"
        python = sys.executable
        self.spawn("sandbox", [python, "-m", "bridge", "sandbox", "--port", str(sandbox_port)])
        self.spawn("sink", [python, "-m", "tests.perf.sink", "--port", str(sink_port)])
        api_env = {"BRIDGE_HTTP_HOST": "127.0.0.1", "BRIDGE_HTTP_PORT": str(api_port)}
        self.spawn("api", [python, "-m", "bridge", "api"], api_env)
        _wait_http(f"{self.sandbox_url}/sandbox/counters", self._processes[0][1])
        _wait_http(f"{self.sink_url}/_stats", self._processes[1][1])
        _wait_http(f"{self.api_url}/health/ready", self._processes[2][1])

    def service_pids(self) -> list[int]:
        """The long-lived processes: sandbox, sink, API, and Redis when it is ours."""
        pids = [p.pid for n, p in self._processes if n in ("sandbox", "sink", "api")]
        port = self.redis_url.rsplit(":", 1)[-1].split("/")[0]
        redis = find_pid("redis-server", f"127.0.0.1:{port}")
        return pids if redis is None else [*pids, redis]

    def env(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of every bridge process: the sandbox as Calypso, loopback only."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
            "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
            "BRIDGE_CALYPSO_API_KEY": API_KEY,
            "BRIDGE_CALYPSO_API_SECRET": API_SECRET,
            "BRIDGE_CALYPSO_WEBHOOK_SECRET": CALYPSO_WEBHOOK_SECRET,
            "BRIDGE_API_TOKENS": TOKEN,
            "BRIDGE_SECRETS_KEYS": SECRETS_KEYS,
            "BRIDGE_REDIS_URL": self.redis_url,
            "BRIDGE_CALYPSO_BASE_URL": self.sandbox_url,
            "BRIDGE_WEBHOOK_ALLOW_HTTP": "true",
            "BRIDGE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "BRIDGE_UPSTREAM_RATE_LIMIT": "100000",
            "BRIDGE_METRICS_PORT": "0",
            "BRIDGE_LOG_LEVEL": "WARNING",
            "BRIDGE_LOG_FORMAT": "console",
            **(overrides or {}),
        }

    # -- any process -------------------------------------------------------------------------

    def spawn(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv, env=self.env(env), stdout=log, stderr=subprocess.STDOUT
            )
        self._processes.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._processes = [(n, p) for n, p in self._processes if p is not process]

    @contextlib.asynccontextmanager
    async def worker(
        self, env: Mapping[str, str], name: str = "worker"
    ) -> AsyncIterator[subprocess.Popen[bytes]]:
        async with self.workers(env, 1, name) as (process,):
            yield process

    @contextlib.asynccontextmanager
    async def workers(
        self, env: Mapping[str, str], count: int, name: str = "worker"
    ) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
        """``count`` worker processes (they share the work through leases in Redis)."""
        names = [name if count == 1 else f"{name}-{n}" for n in range(count)]
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for each in names:
                processes.append(self.spawn(each, [sys.executable, "-m", "bridge", "worker"], env))
            yield processes
            for each, process in zip(names, processes, strict=True):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{each} exited with {process.returncode}: {self.tail(each)}"
                    )
        finally:
            for process in processes:
                self.stop(process)

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        # Workers and the API first (they hold Redis connections), Redis last.
        for _, process in reversed(list(self._processes)):
            with contextlib.suppress(Exception):
                self.stop(process)
        self._exit.close()


@contextlib.contextmanager
def _redis() -> Iterator[str]:
    """A private redis-server (no persistence): nothing else on the machine is flushed."""
    if shutil.which("redis-server"):
        with redis_server_process() as url:
            yield url
    else:
        with real_redis() as url:
            yield url


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code < 500:
                    return
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up (exit code {process.poll()})")
            time.sleep(0.05)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS of /proc/<pid>/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
