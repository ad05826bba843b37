"""Keeps a poll's lease alive for as long as the poll runs.

A lease that simply ran out after a fixed time would hand a customer to a second worker
while the first is still polling it (an upstream that answers slowly is enough), and two
polls would land in one round; when every poll outlasts the lease, workers keep taking the
customer from each other and it is polled without pause. So a running poll renews its lease
every third of the lease time. A worker that dies or stalls stops renewing, and its
customers become due again within the lease time, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from bridge.poller.schedule import PollSchedule
from bridge.store.leases import Lease

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews one lease in the background between :meth:`start` and :meth:`stop`."""

    def __init__(
        self, schedule: PollSchedule, lease: Lease, *, worker: str, lease_seconds: float
    ) -> None:
        self._schedule = schedule
        self._lease = lease
        self._worker = worker
        self._seconds = lease_seconds
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_until_stopped())

    async def stop(self) -> Lease:
        """Stop renewing and return the lease as it stands; safe to call twice.

        A renewal under way is awaited, never cancelled: its script may already have
        changed the token in Redis, and completing with the old one would lose the lease.
        """
        self._stopped.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        return self._lease

    async def _renew_until_stopped(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._seconds / 3)
            if self._stopped.is_set():
                return
            try:
                renewed = await self._schedule.renew(self._lease, self._worker, self._seconds)
            except RedisError as exc:
                # Try again next time; if Redis stays away the lease runs out on its own.
                log.warning("cannot renew a poll lease: %s", type(exc).__name__)
                continue
            if renewed is None:
                return  # lost: the poll ends as before, and its completion is refused
            self._lease = renewed
