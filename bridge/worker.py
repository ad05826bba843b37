"""A worker process (``bridge worker``): the poller and the webhook dispatcher.

Both parts share one Redis client and metrics registry; they meet only in the event stream.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

from bridge.calypso.client import CalypsoClient
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.delivery.dispatcher import DeliveryTuning, Dispatcher
from bridge.delivery.queue import DeliveryQueue
from bridge.delivery.retry import RetryPolicy as WebhookRetryPolicy
from bridge.delivery.sender import Sender
from bridge.delivery.ssrf import UrlPolicy
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.events.stream import EventLog
from bridge.metrics import Metrics
from bridge.poller.discipline import PollerHooks
from bridge.poller.poll import CustomerPoller
from bridge.poller.ratelimit import UpstreamRateLimit
from bridge.poller.runner import PollRunner, PollTuning
from bridge.poller.schedule import PollSchedule
from bridge.probes import WorkerProbes
from bridge.store.connection import connect
from bridge.store.keys import Keys

__all__ = ["Worker"]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.redis = connect(settings.redis_url, cluster=settings.redis_cluster)
        self.keys = Keys(settings.key_prefix, settings.calypso_account)
        limit = UpstreamRateLimit(self.redis, self.keys, per_second=settings.upstream_rate_limit)
        self.calypso = CalypsoClient(
            base_url=settings.calypso_base_url,
            account=settings.calypso_account,
            api_key=settings.calypso_api_key,
            api_secret=settings.calypso_api_secret,
            timeout=settings.calypso_timeout,
            retry=retry,
            hooks=PollerHooks(limit, self.metrics),
        )
        self.events = EventLog(
            self.redis,
            self.keys,
            retention=settings.stream_retention,
            max_length=settings.stream_max_length,
        )
        self.schedule = PollSchedule(self.redis, self.keys)
        self.name = name or worker_name()
        self.polls = PollRunner(
            worker_id=self.name,
            redis=self.redis,
            keys=self.keys,
            schedule=self.schedule,
            poller=CustomerPoller(self.calypso, self.events, settings.calypso_account),
            metrics=self.metrics,
            tuning=PollTuning(
                hot_interval=settings.poll_hot_interval,
                idle_interval=settings.poll_idle_interval,
                lease=settings.poll_lease,
                concurrency=settings.poll_concurrency,
                grace=settings.shutdown_grace,
            ),
        )

        self.subscriptions = SubscriptionStore(self.redis, self.keys)
        self.deliveries = DeliveryQueue(
            self.redis, self.keys, first_delay=settings.webhook_retry_schedule[0]
        )
        self.sender = Sender(
            UrlPolicy.from_settings(settings),
            timeout=settings.webhook_timeout,
            connect_timeout=settings.webhook_connect_timeout,
        )
        self.dispatcher = Dispatcher(
            worker_id=self.name,
            redis=self.redis,
            keys=self.keys,
            subscriptions=self.subscriptions,
            queue=self.deliveries,
            sender=self.sender,
            policy=WebhookRetryPolicy(
                settings.webhook_retry_schedule,
                max_retry_after=settings.webhook_max_retry_after,
            ),
            metrics=self.metrics,
            tuning=DeliveryTuning(
                http_timeout=settings.webhook_timeout,
                endpoint_concurrency=settings.webhook_endpoint_concurrency,
                concurrency=settings.webhook_concurrency,
                disable_after=settings.webhook_disable_after,
                grace=settings.shutdown_grace,
            ),
        )

    async def run(self, stop: asyncio.Event) -> None:
        probes = None
        if self.settings.metrics_port:
            probes = WorkerProbes(
                self.redis,
                self.keys,
                self.metrics,
                host=self.settings.http_host,
                port=self.settings.metrics_port,
            )
            await probes.start()
        try:
            await asyncio.gather(self.polls.run(stop), self.dispatcher.run(stop))
        finally:
            if probes is not None:
                await probes.stop()

    async def drain(self) -> int:
        """Poll every customer due now (tests and one-shot runs)."""
        return await self.polls.drain()

    async def deliver(self) -> int:
        """Fan out unread events and send every delivery due now (tests)."""
        return await self.dispatcher.drain()

    async def aclose(self) -> None:
        await self.sender.aclose()
        await self.calypso.aclose()
        await self.redis.aclose()
