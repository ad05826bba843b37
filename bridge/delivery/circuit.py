"""A circuit breaker per endpoint, so a dead receiver is not hammered.

After ``threshold`` failures in a row the circuit opens: nothing is sent to that endpoint
for ``cooldown`` seconds and its deliveries wait in their queue. Then one trial goes out;
success closes the circuit, failure opens it again. State is per worker process: each
replica finds out on its own, which costs at most ``threshold`` attempts per replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Circuit"]


@dataclass
class Circuit:
    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    open_until: float = 0.0
    _trial: bool = field(default=False, repr=False)

    def allows(self, now: float | None = None) -> int:
        """How many deliveries may go out now: all, one trial, or none."""
        now = time.monotonic() if now is None else now
        if self.failures < self.threshold:
            return 1_000_000
        if now < self.open_until or self._trial:
            return 0
        self._trial = True
        return 1

    def allows_any(self, now: float | None = None) -> bool:
        """False only while open and cooling down (nothing may go out, nothing should wait)."""
        now = time.monotonic() if now is None else now
        return self.failures < self.threshold or now >= self.open_until

    def record(self, success: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._trial = False
        if success:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown
