"""The event stream in Redis: the one place events are written and read.

Stream entries have the fields ``id`` (the event id), ``type``, ``customerId`` (empty when
the event has none) and ``event`` (the JSON envelope bytes). Retention is bounded by age
(``MINID``, from ``BRIDGE_STREAM_RETENTION``) and by length (``MAXLEN``), both approximate
so trimming stays cheap. Every event also has an index key (event id → entry id) that lives
as long as the retention; its existence is what makes appending an event idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import msgspec

from bridge.events.model import Event, Snapshot
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.scripts import EVENTS_APPEND, EVENTS_RECORD, Script

__all__ = ["EventLog", "EventPage", "StoredEvent", "stored_event"]

_Entries = list[tuple[bytes, dict[bytes, bytes]]]
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    entry_id: str
    event_id: str
    type: str
    customer_id: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[StoredEvent]
    next_cursor: str | None


class EventLog:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        *,
        retention: float,
        max_length: int = 1_000_000,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._retention_ms = int(retention * 1000)
        self._max_length = max_length
        self._record = Script(redis, EVENTS_RECORD)
        self._append = Script(redis, EVENTS_APPEND)

    @property
    def key(self) -> str:
        return self._keys.events

    async def snapshots(self, customer_id: str) -> dict[str, tuple[bytes, Snapshot]]:
        key = self._keys.transactions(customer_id)
        stored = cast(dict[bytes, bytes], await self._redis.hgetall(key))
        return {tx_id.decode(): (raw, Snapshot.decode(raw)) for tx_id, raw in stored.items()}

    async def record(
        self,
        customer_id: str,
        transaction_id: str,
        expected: bytes,
        snapshot: Snapshot,
        events: Sequence[Event],
    ) -> tuple[bool, bytes]:
        """Compare-and-set the snapshot and append ``events``; returns (done, current).

        One script (``events_record``): an event is written exactly when the change it
        reports is recorded, so a crash or a second poller can neither lose nor duplicate
        one. A stale ``expected`` writes nothing; detect again from the current snapshot.
        """
        new = snapshot.encode()
        keys = [self._keys.transactions(customer_id), self._keys.events]
        keys += [self._keys.event_index(e.id) for e in events]
        args: list[bytes | str | int] = [
            transaction_id,
            expected,
            new,
            self._min_id(),
            self._max_length,
            self._retention_ms,
        ]
        for event in events:
            args += [event.id, event.type, event.customer_id() or "", _encoder.encode(event)]
        done, current = await self._record(keys, args)
        return bool(done), bytes(current)

    async def append(self, events: Sequence[Event]) -> int:
        """Append events, skipping any already in the log; returns how many were new."""
        if not events:
            return 0
        keys = [self._keys.events, *(self._keys.event_index(e.id) for e in events)]
        args: list[bytes | str | int] = [self._min_id(), self._max_length, self._retention_ms]
        for event in events:
            args += [event.id, event.type, event.customer_id() or "", _encoder.encode(event)]
        return await self._append(keys, args)

    async def get(self, event_id: str) -> StoredEvent | None:
        entry_id = await self._redis.get(self._keys.event_index(event_id))
        if entry_id is None:
            return None
        entries = cast(_Entries, await self._redis.xrange(self.key, entry_id, entry_id))
        return stored_event(*entries[0]) if entries else None

    async def page(
        self,
        *,
        cursor: str | None,
        limit: int,
        newest_first: bool,
        types: frozenset[str] = frozenset(),
        customer_id: str | None = None,
        scan_limit: int = 1000,
    ) -> EventPage:
        """One page of matching events after ``cursor`` (an entry id, exclusive).

        Filters are applied while scanning; at most ``scan_limit`` entries are read per call,
        so a sparse filter returns a short page with a cursor to continue from, not a slow
        request.
        """
        items: list[StoredEvent] = []
        scanned = 0
        position = cursor
        exhausted = False
        while len(items) < limit and scanned < scan_limit:
            batch = await self._batch(position, newest_first, min(scan_limit - scanned, 200))
            if not batch:
                exhausted = True
                break
            for raw_id, fields in batch:
                scanned += 1
                event = stored_event(raw_id, fields)
                position = event.entry_id
                if types and event.type not in types:
                    continue
                if customer_id and event.customer_id != customer_id:
                    continue
                items.append(event)
                if len(items) == limit:
                    break
        return EventPage(items, None if exhausted else position)

    async def _batch(self, position: str | None, newest_first: bool, count: int) -> _Entries:
        if newest_first:
            upper = "+" if position is None else f"({position}"
            return cast(_Entries, await self._redis.xrevrange(self.key, upper, "-", count=count))
        lower = "-" if position is None else f"({position}"
        return cast(_Entries, await self._redis.xrange(self.key, lower, "+", count=count))

    def _min_id(self) -> str:
        return f"{int(time.time() * 1000) - self._retention_ms}-0"


def stored_event(entry_id: bytes | str, fields: dict[bytes, bytes]) -> StoredEvent:
    customer = fields.get(b"customerId", b"").decode()
    return StoredEvent(
        entry_id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        event_id=fields[b"id"].decode(),
        type=fields[b"type"].decode(),
        customer_id=customer or None,
        body=fields[b"event"],
    )
