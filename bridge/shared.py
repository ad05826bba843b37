"""The clients one process holds once, whatever the number of Calypso accounts it serves."""

from __future__ import annotations

from functools import cached_property

from bridge.config import Settings
from bridge.delivery.sender import Sender
from bridge.delivery.ssrf import UrlPolicy
from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.store.connection import RedisClient, connect

__all__ = ["Shared"]


class Shared:
    """The process-wide clients every account uses: one Redis client (its pool serves every
    account; keys carry the account), one webhook sender, the metrics and the heartbeats."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.heartbeats = heartbeats or Heartbeats()

    @cached_property
    def redis(self) -> RedisClient:
        return connect(self.settings.redis_url, cluster=self.settings.redis_cluster)

    @cached_property
    def url_policy(self) -> UrlPolicy:
        return UrlPolicy.from_settings(self.settings)

    @cached_property
    def sender(self) -> Sender:
        return Sender(
            self.url_policy,
            timeout=self.settings.webhook_timeout,
            connect_timeout=self.settings.webhook_connect_timeout,
        )

    async def aclose(self) -> None:
        """Close what was built, the Redis client last (the others use it)."""
        built = vars(self)
        try:
            if "sender" in built:
                await self.sender.aclose()
        finally:
            if "redis" in built:
                await self.redis.aclose()
