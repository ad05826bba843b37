"""A worker process (``bridge worker``): the transaction poller, wired from ``Settings``."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

from bridge.calypso.client import CalypsoClient
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.events.stream import EventLog
from bridge.metrics import Metrics
from bridge.poller.discipline import PollerHooks
from bridge.poller.poll import CustomerPoller
from bridge.poller.ratelimit import UpstreamRateLimit
from bridge.poller.runner import PollRunner, PollTuning
from bridge.poller.schedule import PollSchedule
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
        self.polls = PollRunner(
            worker_id=name or worker_name(),
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
            ),
        )

    async def run(self, stop: asyncio.Event) -> None:
        await self.polls.run(stop)

    async def drain(self) -> int:
        return await self.polls.drain()

    async def aclose(self) -> None:
        await self.calypso.aclose()
        await self.redis.aclose()
