"""One upstream rate limit shared by every replica (GCRA on a single Redis key).

Each upstream call asks the limiter first; the answer is "go" or "wait this long". The state
is one timestamp (the theoretical arrival time of the next call), so the limit holds across
any number of workers without coordination. A 429 from Calypso pushes that timestamp
forward by its ``Retry-After``, which slows every replica down at once.
"""

from __future__ import annotations

import asyncio

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import RATE_ACQUIRE, RATE_PAUSE, Script

__all__ = ["UpstreamRateLimit"]


class UpstreamRateLimit:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, per_second: float, burst: int = 1
    ) -> None:
        self._key = keys.upstream_rate
        self._interval_us = max(1, round(1_000_000 / per_second))
        # Allowing `burst` calls at once means tolerating (burst - 1) intervals of debt.
        self._burst_us = self._interval_us * max(0, burst - 1)
        self._acquire = Script(redis, RATE_ACQUIRE)
        self._pause = Script(redis, RATE_PAUSE)

    async def acquire(self) -> None:
        while True:
            wait_us = await self._acquire([self._key], [self._interval_us, self._burst_us])
            if wait_us <= 0:
                return
            await asyncio.sleep(wait_us / 1_000_000)

    async def pause(self, seconds: float) -> None:
        await self._pause([self._key], [int(seconds * 1_000_000)])
