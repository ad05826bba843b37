"""Upstream discipline: the account's shared rate limit, 429 back-off and metrics, for the
worker's calls (:class:`PollerHooks`, which yield) and the API's (:class:`ApiHooks`, which
go first)."""

from __future__ import annotations

from bridge.calypso.errors import CalypsoRateLimited
from bridge.metrics import Metrics, UpstreamMetrics
from bridge.poller.ratelimit import SlotTooFar, UpstreamRateLimit

__all__ = ["API_LONGEST_WAIT", "ApiHooks", "PollerHooks"]

# A 429 without Retry-After still pauses everyone this long.
DEFAULT_PAUSE = 1.0
MAX_PAUSE = 60.0
# An API call waits at most this long for its upstream slot, then answers 503 Retry-After.
API_LONGEST_WAIT = 2.0


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


class ApiHooks(PollerHooks):
    """The API's calls: booked ahead of polls within the account's limit, never waiting
    longer than ``longest_wait`` (then :class:`CalypsoRateLimited`: a 503 with Retry-After)."""

    def __init__(
        self, limit: UpstreamRateLimit, metrics: Metrics, *, longest_wait: float = API_LONGEST_WAIT
    ) -> None:
        super().__init__(limit, metrics)
        self._longest_wait = longest_wait

    async def before(self, endpoint: str) -> None:
        try:
            await self._limit.book(self._longest_wait)
        except SlotTooFar as full:
            raise CalypsoRateLimited(
                "the account's upstream rate limit is fully booked",
                operation=endpoint,
                retry_after=full.wait,
            ) from None
