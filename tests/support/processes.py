"""Bridge processes (``bridge worker`` and friends) started by tests, and stopped by them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.waiting import eventually

__all__ = ["BridgeProcess", "bridge_processes", "wait_until_listening"]


class BridgeProcess:
    def __init__(self, role: str, env: Mapping[str, str], log_dir: Path, name: str) -> None:
        self.role = role
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", self.role],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a crash or an OOM kill would be."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def bridge_processes(
    role: str,
    count: int,
    env: Mapping[str, str],
    each: Callable[[int], Mapping[str, str]] | None = None,
) -> Iterator[list[BridgeProcess]]:
    """``count`` processes of one role; ``each(n)`` adds settings of the n-th (its port)."""
    with tempfile.TemporaryDirectory(prefix="bridge-procs-") as directory:
        processes = [
            BridgeProcess(
                role, {**env, **(each(n) if each else {})}, Path(directory), f"{role}-{n}"
            )
            for n in range(count)
        ]
        for process in processes:
            process.start()
        try:
            yield processes
        finally:
            for process in processes:
                process.stop()


async def wait_until_listening(port: int, within: float = 20) -> None:
    """Until a bridge process on ``port`` answers ``/health/live``."""
    async with httpx.AsyncClient() as client:

        async def answers() -> bool:
            try:
                await client.get(f"http://127.0.0.1:{port}/health/live")
            except httpx.TransportError:
                return False
            return True

        await eventually(answers, within=within, interval=0.05, what=f"a server on {port}")
