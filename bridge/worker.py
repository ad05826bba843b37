"""A worker process (``bridge worker``): the poller, the webhook dispatcher, and the
periodic removal of dead letters past their retention, for every configured account.

Every account has its own loops (poller, dispatcher, retention, recovery), each with its own
concurrency, leases, Calypso client and rate limit, so one account's backlog or upstream
outage only ever slows its own loops: the others keep their polls and deliveries. The loops
share the process's clients (one Redis client, one sender, one metrics registry, see
:mod:`bridge.deployment`); poller and dispatcher meet only in the event stream.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.delivery.dispatcher import Dispatcher
from bridge.delivery.retention import DeadLetterRetention
from bridge.deployment import Deployment
from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.poller.runner import PollRunner
from bridge.probes import WorkerProbes
from bridge.recovery import IntentRecovery
from bridge.wiring import Components, dispatcher, poll_runner, rate_limited

__all__ = ["AccountLoops", "Worker"]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class AccountLoops:
    """One account's loops in a worker."""

    def __init__(self, components: Components, worker_id: str) -> None:
        self.components = components
        self.polls: PollRunner = poll_runner(components, worker_id)
        self.dispatcher: Dispatcher = dispatcher(components, worker_id)
        self.dead_letter_retention: DeadLetterRetention = components.dead_letter_retention
        self.recovery: IntentRecovery = components.recovery

    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.polls.run(stop)),
            asyncio.create_task(self.dispatcher.run(stop)),
            asyncio.create_task(self.dead_letter_retention.run(stop)),
            asyncio.create_task(self.recovery.run(stop)),
        ]


class Worker:
    """Serves every configured account; the attributes after ``deployment`` are the first
    account's (the only one in a one-account deployment)."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        name: str | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.settings = settings
        self.name = name or worker_name()
        self.deployment = Deployment(
            settings, upstream=rate_limited, retry=retry, metrics=metrics, heartbeats=heartbeats
        )
        self.accounts = {
            account: AccountLoops(components, self.name)
            for account, components in self.deployment.accounts.items()
        }
        first = next(iter(self.accounts.values()))
        self.components = c = first.components
        self.metrics = c.metrics
        self.redis = c.redis
        self.keys = c.keys
        self.calypso = c.calypso
        self.events = c.events
        self.schedule = c.schedule
        self.subscriptions = c.subscriptions
        self.deliveries = c.deliveries
        self.sender = c.sender
        self.polls = first.polls
        self.dispatcher = first.dispatcher
        self.dead_letter_retention = first.dead_letter_retention

    async def run(self, stop: asyncio.Event) -> None:
        probes = None
        if self.settings.metrics_port:
            probes = WorkerProbes(
                self.redis,
                [account.components.keys for account in self.accounts.values()],
                self.deployment.shared.metrics,
                host=self.settings.http_host,
                port=self.settings.metrics_port,
                heartbeats=self.components.heartbeats,
            )
            await probes.start()
        loops = [task for account in self.accounts.values() for task in account.tasks(stop)]
        try:
            await asyncio.gather(*loops)
        finally:
            # One loop ending in an error stops the others in their own two phases before
            # the clients they use are closed.
            stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
            if probes is not None:
                await probes.stop()

    async def drain(self) -> int:
        """Poll every customer of every account due now (tests and one-shot runs)."""
        return sum([await account.polls.drain() for account in self.accounts.values()])

    async def deliver(self) -> int:
        """Fan out unread events and send every delivery due now, every account (tests)."""
        return sum([await account.dispatcher.drain() for account in self.accounts.values()])

    async def aclose(self) -> None:
        await self.deployment.aclose()
