"""Deliveries claimed ahead of sending, per subscription, and handed back when not sent.

A subscription keeps up to twice its endpoint's concurrency claimed, so a finished attempt
is followed at once by the next one, without a Redis round trip in between. Claims come in
batches, under a lease longer than any attempt; a claim that waited so long here that its
lease no longer covers a whole attempt is handed back instead of sent (see :meth:`too_late`).
"""

from __future__ import annotations

from collections import defaultdict, deque

from bridge.delivery.queue import Claimed, DeliveryQueue

__all__ = ["ClaimAhead"]

# Time an attempt may take beyond the HTTP timeout (scheduling, settling) before its lease
# must still be running.
_MARGIN_SECONDS = 1.0


class ClaimAhead:
    def __init__(
        self,
        queue: DeliveryQueue,
        *,
        worker_id: str,
        endpoint_concurrency: int,
        lease: float,
        attempt_time: float,
    ) -> None:
        self._queue = queue
        self._worker = worker_id
        self._per_endpoint = endpoint_concurrency
        self._lease = lease
        self._attempt_ms = (attempt_time + _MARGIN_SECONDS) * 1000
        self._claimed: dict[str, deque[Claimed]] = defaultdict(deque)

    def waiting(self) -> set[str]:
        """The subscriptions with claims not sent yet."""
        return {s for s, claimed in self._claimed.items() if claimed}

    def count(self, subscription_id: str) -> int:
        return len(self._claimed[subscription_id])

    def take(self, subscription_id: str) -> Claimed:
        """The oldest claim of a subscription (there must be one, see :meth:`count`)."""
        return self._claimed[subscription_id].popleft()

    def too_late(self, claimed: Claimed, now_ms: float) -> bool:
        """Whether the claim's lease would run out during an attempt started now."""
        return claimed.lease.expiry_ms < now_ms + self._attempt_ms

    async def top_up(self, subscription_id: str, *, in_flight: int, room: int) -> None:
        """Claim up to twice the endpoint's concurrency, counting the attempts in flight,
        and at most ``room`` (what the worker may still start); one round trip.

        A subscription with nothing due, nothing claimed and nothing in flight leaves the
        active set.
        """
        limit = self._per_endpoint
        owned = in_flight + len(self._claimed[subscription_id])
        if owned > limit:
            return
        wanted = min(2 * limit - owned, room)
        if wanted <= 0:
            return
        claimed = await self._queue.claim(subscription_id, self._worker, wanted, self._lease)
        self._claimed[subscription_id].extend(claimed)
        if not claimed and not owned:
            await self._queue.retire(subscription_id)

    async def hand_back(self, subscription_id: str | None = None) -> None:
        """Return the claims of one subscription, or of all, due now for any worker."""
        targets = [subscription_id] if subscription_id else list(self._claimed)
        for target in targets:
            claimed = self._claimed[target]
            while claimed:
                await self._queue.hand_back(target, claimed.popleft().lease)
