"""A worker process (``bridge worker``): the poller, the webhook dispatcher, and the
periodic removal of dead letters past their retention.

Both parts share the process's components (one Redis client, one metrics registry, see
:mod:`bridge.wiring`); they meet only in the event stream.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.probes import WorkerProbes
from bridge.wiring import Components, dispatcher, poll_runner, rate_limited

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
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.settings = settings
        self.components = Components(
            settings, upstream=rate_limited, retry=retry, metrics=metrics, heartbeats=heartbeats
        )
        c = self.components
        self.metrics = c.metrics
        self.redis = c.redis
        self.keys = c.keys
        self.calypso = c.calypso
        self.events = c.events
        self.schedule = c.schedule
        self.subscriptions = c.subscriptions
        self.deliveries = c.deliveries
        self.sender = c.sender
        self.name = name or worker_name()
        self.polls = poll_runner(c, self.name)
        self.dispatcher = dispatcher(c, self.name)
        self.dead_letter_retention = c.dead_letter_retention

    async def run(self, stop: asyncio.Event) -> None:
        probes = None
        if self.settings.metrics_port:
            probes = WorkerProbes(
                self.redis,
                self.keys,
                self.metrics,
                host=self.settings.http_host,
                port=self.settings.metrics_port,
                heartbeats=self.components.heartbeats,
            )
            await probes.start()
        loops = [
            asyncio.create_task(self.polls.run(stop)),
            asyncio.create_task(self.dispatcher.run(stop)),
            asyncio.create_task(self.dead_letter_retention.run(stop)),
            asyncio.create_task(self.components.recovery.run(stop)),
        ]
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
        """Poll every customer due now (tests and one-shot runs)."""
        return await self.polls.drain()

    async def deliver(self) -> int:
        """Fan out unread events and send every delivery due now (tests)."""
        return await self.dispatcher.drain()

    async def aclose(self) -> None:
        await self.components.aclose()
