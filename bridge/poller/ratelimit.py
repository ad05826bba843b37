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

__all__ = ["UpstreamRateLimit"]

# Admits one call now (returns 0) or returns the microseconds to wait. Redis's own clock is
# used so replicas with skewed clocks still share one schedule.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return 0
"""

# Holds every caller back until ARGV[1] microseconds from now (a 429's Retry-After).
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_us = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < until_us then
  redis.call('SET', KEYS[1], until_us, 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
"""


class UpstreamRateLimit:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, per_second: float, burst: int = 1
    ) -> None:
        self._key = keys.upstream_rate
        self._interval_us = max(1, round(1_000_000 / per_second))
        # Allowing `burst` calls at once means tolerating (burst - 1) intervals of debt.
        self._burst_us = self._interval_us * max(0, burst - 1)
        self._acquire = redis.register_script(_ACQUIRE)
        self._pause = redis.register_script(_PAUSE)

    async def acquire(self) -> None:
        while True:
            wait_us = int(
                await self._acquire(keys=[self._key], args=[self._interval_us, self._burst_us])
            )
            if wait_us <= 0:
                return
            await asyncio.sleep(wait_us / 1_000_000)

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[self._key], args=[int(seconds * 1_000_000)])
