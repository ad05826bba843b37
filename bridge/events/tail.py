"""Following the event stream from a position, without gaps or repeats (Server-Sent Events).

A position is an entry id: what follows it is read in batches by one script
(``events_follow``) that also checks, in the same step, that nothing after the position was
trimmed or deleted; a position with a gap after it is :class:`PositionGone`, never a silently
shorter stream. Waiting for new entries is a blocking ``XREAD`` used only as a wake-up: the
entries themselves are always read by the script, so a trim while the reader waited is seen.
"""

from __future__ import annotations

from typing import Final

from redis.exceptions import ResponseError

from bridge.errors import BridgeError
from bridge.events.stream import StoredEvent, stored_event
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import EVENTS_FOLLOW, Script

__all__ = ["NEWEST", "OLDEST", "EventTail", "PositionGone"]

NEWEST: Final = "$"
"""The position after the newest entry: only events appended from now on."""
OLDEST: Final = "-"
"""The position before the oldest entry the stream keeps."""


class PositionGone(BridgeError):
    """Entries after the position are no longer in the stream (or it never gave that id)."""

    def __init__(self, position: str) -> None:
        super().__init__(f"events after {position} are no longer retained")
        self.position = position


class EventTail:
    """Reads after a position on ``redis``; waits for new entries on ``waiter``.

    ``waiter`` is a client of the reader's own: a blocking read holds its connection for
    the whole wait, which must not take one the API's requests need.
    """

    def __init__(
        self, redis: RedisClient, waiter: RedisClient, keys: Keys, *, batch: int = 100
    ) -> None:
        self._keys = keys
        self._waiter = waiter
        self._batch = batch
        self._follow = Script(redis, EVENTS_FOLLOW)

    async def read(self, position: str) -> tuple[str, list[StoredEvent]]:
        """At most one batch after ``position``, and the position after it."""
        gone, resolved, entries = await self._follow([self._keys.events], [position, self._batch])
        if gone:
            raise PositionGone(position)
        events = [stored_event(raw_id, _pairs(fields)) for raw_id, fields in entries]
        if events:
            return events[-1].entry_id, events
        return (position if position not in (NEWEST, OLDEST) else resolved.decode()), []

    async def wait(self, position: str, *, seconds: float) -> None:
        """Until an entry after ``position`` exists, or ``seconds`` passed."""
        try:
            await self._waiter.xread(
                {self._keys.events: position}, count=1, block=max(1, int(seconds * 1000))
            )
        except ResponseError:
            # An id Redis cannot follow is refused by the script that reads next.
            return


def _pairs(fields: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(fields[::2], fields[1::2], strict=True))
