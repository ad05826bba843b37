"""The clients and stores a request handler may use, created once per process.

The app's lifespan builds them from ``Settings`` (or takes them ready-made from a test) and
closes what it built; handlers receive them by dependency injection, never from globals.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency

from bridge.calypso.client import CalypsoClient
from bridge.config import Settings
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient, connect
from bridge.store.idempotency import IdempotencyStore
from bridge.store.keys import Keys

__all__ = ["Services", "ServicesDep", "services_of"]


class Services:
    # A plain class on purpose: Litestar hands dependency types to msgspec, which would
    # try to introspect a dataclass's fields.
    __slots__ = ("calypso", "idempotency", "keys", "redis", "settings", "watchlist")

    def __init__(
        self,
        *,
        settings: Settings,
        redis: RedisClient,
        calypso: CalypsoClient,
        keys: Keys,
        watchlist: WatchList,
        idempotency: IdempotencyStore,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.calypso = calypso
        self.keys = keys
        self.watchlist = watchlist
        self.idempotency = idempotency

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        redis: RedisClient | None = None,
        calypso: CalypsoClient | None = None,
    ) -> Services:
        redis = redis or connect(settings.redis_url, cluster=settings.redis_cluster)
        calypso = calypso or CalypsoClient(
            base_url=settings.calypso_base_url,
            account=settings.calypso_account,
            api_key=settings.calypso_api_key,
            api_secret=settings.calypso_api_secret,
            timeout=settings.calypso_timeout,
        )
        keys = Keys(settings.key_prefix, settings.calypso_account)
        return cls(
            settings=settings,
            redis=redis,
            calypso=calypso,
            keys=keys,
            watchlist=WatchList(redis, keys),
            idempotency=IdempotencyStore(redis, keys),
        )

    async def aclose(self) -> None:
        await self.calypso.aclose()
        await self.redis.aclose()


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


ServicesDep = NamedDependency[Services]
