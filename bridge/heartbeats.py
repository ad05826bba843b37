"""Heartbeats of a worker's loops, so its liveness probe tells a stuck worker from a busy one.

Each loop beats as it comes round and says when it means to come round again (``every``:
its longest wait for work, a blocking read or a sleep). The worker is live while every loop
that has beaten is due no later than ``every`` plus ``slack`` after its last beat. A loop
waiting on a Redis that stopped answering, a lock never released or a future never resolved
stops beating, and the probe (``/health/live``) says so, naming the loop, so an orchestrator
restarts the worker. The slack (60 s by default) is far longer than a Redis command may
take (its timeouts are seconds), so an outage Redis recovers from does not restart workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Heartbeats"]


class Heartbeats:
    def __init__(self, *, slack: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._slack = slack
        self._clock = clock
        self._due: dict[str, float] = {}
        self._prefix = ""

    def scoped(self, name: str) -> Heartbeats:
        """The same heartbeats with loop names prefixed by ``name:`` (one account's loops),
        so a stuck loop of one account is not hidden by another account's loop of its kind."""
        view = Heartbeats(slack=self._slack, clock=self._clock)
        view._due = self._due
        view._prefix = f"{self._prefix}{name}:"
        return view

    def beat(self, loop: str, *, every: float) -> None:
        """``loop`` came round, and means to again within ``every`` seconds."""
        self._due[self._prefix + loop] = self._clock() + every + self._slack

    def stalled(self) -> list[str]:
        """The loops overdue, oldest first; empty while the worker is live."""
        now = self._clock()
        return [loop for loop, due in sorted(self._due.items(), key=lambda i: i[1]) if due < now]
