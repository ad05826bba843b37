"""Workers built the way ``bridge worker`` builds them, closed by the fixture that made them.

Tests drive a worker deterministically (``worker.drain()``, ``worker.deliver()``: arq's burst
mode) or start one of its loops in the background, as production runs it; either way the
factory stops the loops and closes every client when the test ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from bridge.config import Settings
from bridge.worker import Worker
from tests.support.config import FAST_RETRY

__all__ = ["WorkerFactory"]

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class WorkerFactory:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._workers: list[Worker] = []
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    def __call__(self, settings: Settings | None = None, *, name: str = "test-worker") -> Worker:
        """A worker on ``settings`` (the test's own by default)."""
        worker = Worker(settings or self._settings, retry=FAST_RETRY, name=name)
        self._workers.append(worker)
        return worker

    def start(self, loop: Loop) -> None:
        """Run ``loop`` (``worker.run``, ``worker.dispatcher.run``...) until the test ends."""
        self._loops.append(asyncio.create_task(loop(self._stop)))

    async def aclose(self) -> None:
        self._stop.set()
        try:
            await asyncio.gather(*self._loops)
        finally:
            for worker in self._workers:
                await worker.aclose()
