"""The clients and stores a request handler may use, created once per process.

The app's lifespan builds them from ``Settings`` inside the serving event loop and closes
them on shutdown; handlers receive them by dependency injection, never from globals.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency

from bridge.calypso.client import CalypsoClient
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.delivery.attempts import AttemptLog
from bridge.delivery.queue import DeliveryQueue
from bridge.delivery.ssrf import UrlPolicy
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.events.stream import EventLog
from bridge.metrics import Metrics, UpstreamMetrics
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient, connect
from bridge.store.idempotency import IdempotencyStore
from bridge.store.keys import Keys

__all__ = ["Services", "ServicesDep", "services_of"]


class Services:
    # A plain class on purpose: Litestar hands dependency types to msgspec, which would
    # try to introspect a dataclass's fields.
    __slots__ = (
        "attempts",
        "calypso",
        "deliveries",
        "events",
        "idempotency",
        "keys",
        "metrics",
        "redis",
        "schedule",
        "settings",
        "subscriptions",
        "url_policy",
        "watchlist",
    )

    def __init__(
        self,
        *,
        settings: Settings,
        redis: RedisClient,
        calypso: CalypsoClient,
        keys: Keys,
        watchlist: WatchList,
        idempotency: IdempotencyStore,
        events: EventLog,
        schedule: PollSchedule,
        metrics: Metrics,
        subscriptions: SubscriptionStore,
        deliveries: DeliveryQueue,
        attempts: AttemptLog,
        url_policy: UrlPolicy,
    ) -> None:
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.attempts = attempts
        self.url_policy = url_policy
        self.events = events
        self.schedule = schedule
        self.metrics = metrics
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
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
    ) -> Services:
        redis = connect(settings.redis_url, cluster=settings.redis_cluster)
        metrics = metrics or Metrics()
        calypso = CalypsoClient(
            base_url=settings.calypso_base_url,
            account=settings.calypso_account,
            api_key=settings.calypso_api_key,
            api_secret=settings.calypso_api_secret,
            timeout=settings.calypso_timeout,
            retry=retry,
            hooks=UpstreamMetrics(metrics),
        )
        keys = Keys(settings.key_prefix, settings.calypso_account)
        return cls(
            settings=settings,
            redis=redis,
            calypso=calypso,
            keys=keys,
            watchlist=WatchList(redis, keys),
            idempotency=IdempotencyStore(redis, keys),
            events=EventLog(
                redis,
                keys,
                retention=settings.stream_retention,
                max_length=settings.stream_max_length,
            ),
            schedule=PollSchedule(redis, keys),
            metrics=metrics,
            subscriptions=SubscriptionStore(redis, keys),
            deliveries=DeliveryQueue(redis, keys, first_delay=settings.webhook_retry_schedule[0]),
            attempts=AttemptLog(redis, keys),
            url_policy=UrlPolicy.from_settings(settings),
        )

    async def aclose(self) -> None:
        await self.calypso.aclose()
        await self.redis.aclose()


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


ServicesDep = NamedDependency[Services]
