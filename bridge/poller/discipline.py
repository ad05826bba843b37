"""Upstream discipline for the poller: the shared rate limit, 429 back-off and metrics."""

from __future__ import annotations

from bridge.metrics import Metrics, UpstreamMetrics
from bridge.poller.ratelimit import UpstreamRateLimit

__all__ = ["PollerHooks"]

# A 429 without Retry-After still pauses everyone this long.
DEFAULT_PAUSE = 1.0
MAX_PAUSE = 60.0


class PollerHooks:
    """Implements :class:`bridge.calypso.hooks.UpstreamHooks` for the workers."""

    def __init__(self, limit: UpstreamRateLimit, metrics: Metrics) -> None:
        self._limit = limit
        self._metrics = UpstreamMetrics(metrics)

    async def before(self, endpoint: str) -> None:
        await self._limit.acquire()

    async def after(
        self, endpoint: str, outcome: str, seconds: float, retry_after: float | None
    ) -> None:
        await self._metrics.after(endpoint, outcome, seconds, retry_after)
        if outcome == "429":
            pause = DEFAULT_PAUSE if retry_after is None else retry_after
            await self._limit.pause(min(MAX_PAUSE, pause))
