"""Every component of a bridge process, built from ``Settings`` in one place.

A process serves every configured Calypso account. What it holds once is
:class:`bridge.shared.Shared` (the Redis client, webhook sender, metrics, heartbeats); what
belongs to one account is its :class:`Components` (keys, Calypso client with its own
credentials and base URL, event log, schedule, subscriptions, deliveries, rate limit...). A
:class:`bridge.deployment.Deployment` holds the shared clients and one ``Components`` per
account, and closes them all.

The API and the worker take their components from the same factories, so a new setting or
dependency is wired once. Each component is built on first use and kept: a process builds
only what it uses. What differs between the two processes is a parameter, not a copy: how
the Calypso client paces itself (``upstream``).

The worker's own loops, :func:`poll_runner` and :func:`dispatcher`, are built here too,
from the same components.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from bridge.accounts import Account
from bridge.addresses import AddressService
from bridge.calypso.client import CalypsoClient
from bridge.calypso.hooks import UpstreamHooks
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.customers import CustomerService
from bridge.delivery.attempts import AttemptLog
from bridge.delivery.audit import AuditTrail
from bridge.delivery.dispatcher import DeliveryTuning, Dispatcher
from bridge.delivery.queue import DeliveryQueue
from bridge.delivery.replay import Redelivery
from bridge.delivery.retention import DeadLetterRetention
from bridge.delivery.retry import RetryPolicy as WebhookRetryPolicy
from bridge.delivery.sealed_secrets import SealedSecrets
from bridge.delivery.sender import Sender
from bridge.delivery.ssrf import UrlPolicy
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.events.stream import EventLog
from bridge.faults import FaultHook
from bridge.heartbeats import Heartbeats
from bridge.intents import IntentLog
from bridge.metrics import Metrics
from bridge.poller.discipline import ApiHooks, PollerHooks
from bridge.poller.poll import CustomerPoller
from bridge.poller.ratelimit import UpstreamRateLimit
from bridge.poller.runner import PollRunner, PollTuning
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList
from bridge.recovery import IntentRecovery
from bridge.shared import Shared
from bridge.store.connection import RedisClient
from bridge.store.durability import check_durability
from bridge.store.idempotency import IdempotencyStore
from bridge.store.keys import Keys
from bridge.store.replication import ReplicatedWrites

__all__ = [
    "Components",
    "UpstreamFor",
    "dispatcher",
    "measured",
    "poll_runner",
    "rate_limited",
]

UpstreamFor = Callable[["Components"], UpstreamHooks]


def measured(components: Components) -> UpstreamHooks:
    """The API's Calypso calls: within the account's rate limit but booked ahead of the
    worker's (a caller is waiting), paused by a 429, and measured."""
    return ApiHooks(_rate_limit(components), components.metrics)


def rate_limited(components: Components) -> UpstreamHooks:
    """The worker's: within the account's rate limit, yielding to API calls, paused by a
    429, and measured."""
    return PollerHooks(_rate_limit(components), components.metrics)


def _rate_limit(components: Components) -> UpstreamRateLimit:
    return UpstreamRateLimit(
        components.redis, components.keys, per_second=components.account.rate_limit
    )


class Components:
    """The clients and stores of one Calypso account, each built once from the settings.

    ``account`` defaults to the first configured account and ``shared`` to clients of its
    own (closed by :meth:`aclose`); a :class:`Deployment` passes both. A plain class on
    purpose: Litestar hands dependency types to msgspec, which would try to introspect a
    dataclass's fields.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        account: Account | None = None,
        shared: Shared | None = None,
        upstream: UpstreamFor = measured,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.settings = settings
        self.account = account or settings.accounts[0]
        self._owns_shared = shared is None
        self.shared = shared or Shared(settings, metrics=metrics, heartbeats=heartbeats)
        self._upstream = upstream
        self._retry = retry

    # -- shared clients (closed by whoever made the Shared) ------------------------------

    @property
    def redis(self) -> RedisClient:
        return self.shared.redis

    @property
    def sender(self) -> Sender:
        return self.shared.sender

    @property
    def url_policy(self) -> UrlPolicy:
        return self.shared.url_policy

    @property
    def metrics(self) -> Metrics:
        """The process's metrics, recording with this account's label."""
        return self.shared.metrics.for_account(self.account.id)

    @property
    def heartbeats(self) -> Heartbeats:
        return self.shared.heartbeats

    # -- the account's own client (closed by aclose) -------------------------------------

    @cached_property
    def calypso(self) -> CalypsoClient:
        a = self.account
        return CalypsoClient(
            base_url=a.base_url,
            account=a.id,
            api_key=a.api_key,
            api_secret=a.api_secret,
            timeout=self.settings.calypso_timeout,
            retry=self._retry,
            hooks=self._upstream(self),
        )

    # -- stores --------------------------------------------------------------------------

    @cached_property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix, self.account.id)

    @cached_property
    def events(self) -> EventLog:
        return EventLog(
            self.redis,
            self.keys,
            retention=self.settings.stream_retention,
            max_length=self.settings.stream_max_length,
        )

    @cached_property
    def schedule(self) -> PollSchedule:
        return PollSchedule(self.redis, self.keys)

    @cached_property
    def watchlist(self) -> WatchList:
        return WatchList(self.redis, self.keys)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        return IdempotencyStore(self.redis, self.keys)

    @cached_property
    def intents(self) -> IntentLog:
        return IntentLog(
            self.redis,
            self.keys,
            FaultHook(after_upstream=self.settings.fault_after_upstream),
            writes=self.replicated_writes,
        )

    @cached_property
    def replicated_writes(self) -> ReplicatedWrites:
        return ReplicatedWrites(
            self.redis,
            replicas=self.settings.redis_wait_replicas,
            timeout=self.settings.redis_wait_timeout,
        )

    @cached_property
    def subscriptions(self) -> SubscriptionStore:
        sealed = SealedSecrets(self.settings.secrets_keys, self.keys.account)
        return SubscriptionStore(self.redis, self.keys, sealed)

    @cached_property
    def deliveries(self) -> DeliveryQueue:
        first_delay = self.settings.webhook_retry_schedule[0]
        return DeliveryQueue(self.redis, self.keys, first_delay=first_delay)

    @cached_property
    def dead_letter_retention(self) -> DeadLetterRetention:
        return DeadLetterRetention(
            self.redis,
            self.keys,
            self.subscriptions,
            retention=self.settings.dead_letter_retention,
        )

    @cached_property
    def attempts(self) -> AttemptLog:
        return AttemptLog(self.redis, self.keys)

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.redis, self.keys)

    # -- services ------------------------------------------------------------------------

    @cached_property
    def customers(self) -> CustomerService:
        return CustomerService(
            calypso=self.calypso,
            redis=self.redis,
            keys=self.keys,
            watchlist=self.watchlist,
            events=self.events,
            idempotency=self.idempotency,
            intents=self.intents,
            account=self.account.id,
        )

    @cached_property
    def addresses(self) -> AddressService:
        return AddressService(
            calypso=self.calypso,
            watchlist=self.watchlist,
            schedule=self.schedule,
            events=self.events,
            intents=self.intents,
            account=self.account.id,
            hot_for=self.settings.poll_address_hot_for,
        )

    @cached_property
    def recovery(self) -> IntentRecovery:
        """Run by the API and by the worker: whichever survives settles what a dead API
        process left (settling one intent twice writes its event once)."""
        return IntentRecovery(
            intents=self.intents,
            calypso=self.calypso,
            customers=self.customers,
            addresses=self.addresses,
            metrics=self.metrics,
            recover_after=self.settings.intent_recover_after,
        )

    @cached_property
    def redelivery(self) -> Redelivery:
        return Redelivery(
            self.events,
            self.subscriptions,
            self.deliveries,
            account=self.account.id,
        )

    @property
    def loop_heartbeats(self) -> Heartbeats:
        """The heartbeats of this account's loops: named by the account when the process
        serves several."""
        if len(self.settings.accounts) == 1:
            return self.heartbeats
        return self.heartbeats.scoped(self.account.id)

    async def check_redis(self) -> list[str]:
        """At start: warn about a Redis that does not keep its data (or refuse to start on it
        with ``BRIDGE_REDIS_REQUIRE_DURABLE``, raising ``RedisNotDurable``)."""
        return await check_durability(self.redis, require=self.settings.redis_require_durable)

    async def aclose(self) -> None:
        """Close the account's Calypso client, and the shared clients if they are its own."""
        try:
            if "calypso" in vars(self):
                await self.calypso.aclose()
        finally:
            if self._owns_shared:
                await self.shared.aclose()


def poll_runner(components: Components, worker_id: str) -> PollRunner:
    c, s = components, components.settings
    return PollRunner(
        worker_id=worker_id,
        redis=c.redis,
        keys=c.keys,
        schedule=c.schedule,
        poller=CustomerPoller(c.calypso, c.events, c.account.id),
        metrics=c.metrics,
        tuning=PollTuning(
            hot_interval=s.poll_hot_interval,
            idle_interval=s.poll_idle_interval,
            lease=s.poll_lease,
            concurrency=s.poll_concurrency,
            grace=s.shutdown_grace,
        ),
        heartbeats=c.loop_heartbeats,
    )


def dispatcher(components: Components, worker_id: str) -> Dispatcher:
    c, s = components, components.settings
    return Dispatcher(
        worker_id=worker_id,
        redis=c.redis,
        keys=c.keys,
        subscriptions=c.subscriptions,
        queue=c.deliveries,
        sender=c.sender,
        policy=WebhookRetryPolicy(
            s.webhook_retry_schedule, max_retry_after=s.webhook_max_retry_after
        ),
        metrics=c.metrics,
        tuning=DeliveryTuning(
            http_timeout=s.webhook_timeout,
            endpoint_concurrency=s.webhook_endpoint_concurrency,
            concurrency=s.webhook_concurrency,
            disable_after=s.webhook_disable_after,
            grace=s.shutdown_grace,
        ),
        heartbeats=c.loop_heartbeats,
    )
