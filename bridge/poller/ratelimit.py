"""One upstream rate limit per account shared by every replica, API and worker alike (GCRA
on a single Redis key).

Each upstream call asks the limiter first. The state is one timestamp (the theoretical
arrival time of the next call), so the limit holds across any number of processes without
coordination. A 429 from Calypso pushes that timestamp forward by its ``Retry-After``, which
slows every replica down at once.

API calls come first: :meth:`UpstreamRateLimit.book` reserves the next free slot however far
ahead it is (up to what a caller may wait) and waits for it. Polls yield:
:meth:`UpstreamRateLimit.acquire` goes only when no slot is booked ahead, so while API
traffic keeps the limiter busy, polls wait, and calls of both kinds together stay within the
limit.
"""

from __future__ import annotations

import asyncio

from bridge.errors import BridgeError
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import RATE_ACQUIRE, RATE_BOOK, RATE_PAUSE, Script

__all__ = ["SlotTooFar", "UpstreamRateLimit"]


class SlotTooFar(BridgeError):
    """The account's next free upstream slot is further away than the caller may wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"next upstream slot in {wait:.3f}s")
        self.wait = wait


class UpstreamRateLimit:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, per_second: float, burst: int = 1
    ) -> None:
        self._key = keys.upstream_rate
        self._interval_us = max(1, round(1_000_000 / per_second))
        # Allowing `burst` calls at once means tolerating (burst - 1) intervals of debt.
        self._burst_us = self._interval_us * max(0, burst - 1)
        self._acquire = Script(redis, RATE_ACQUIRE)
        self._book = Script(redis, RATE_BOOK)
        self._pause = Script(redis, RATE_PAUSE)

    async def acquire(self) -> None:
        while True:
            wait_us = await self._acquire([self._key], [self._interval_us, self._burst_us])
            if wait_us <= 0:
                return
            await asyncio.sleep(wait_us / 1_000_000)

    async def book(self, longest_wait: float) -> None:
        """Take the next free slot, ahead of polls, and wait for it; raise
        :class:`SlotTooFar` (booking nothing) when it is more than ``longest_wait`` away."""
        wait_us = await self._book(
            [self._key], [self._interval_us, max(0, round(longest_wait * 1_000_000))]
        )
        if wait_us < 0:
            raise SlotTooFar(-wait_us / 1_000_000)
        if wait_us > 0:
            await asyncio.sleep(wait_us / 1_000_000)

    async def pause(self, seconds: float) -> None:
        await self._pause([self._key], [int(seconds * 1_000_000)])
