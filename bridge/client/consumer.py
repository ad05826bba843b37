"""``EventConsumer``: one member of a consumer group on an account's event stream in Redis.

It creates its group (an existing one is fine), first finishes what it had read and not
acknowledged before a restart, then reads new entries with ``XREADGROUP``; every
``claim_every`` seconds it takes over entries another member left unacknowledged for longer
than ``claim_idle`` (``XAUTOCLAIM``: that member crashed). An entry is acknowledged only
after the handler returned, so delivery is at least once: a handler must be idempotent on
``event.id``. ``stop()`` (or SIGTERM/SIGINT after ``stop_on_signals()``) ends the loop once
the current batch is handled.

Works with the Redis user ``bridge acl consumer`` prints (it needs no other command).
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError

from bridge.events.model import Event

__all__ = ["EventConsumer", "Handler", "stream_key"]

Handler = Callable[[Event], Awaitable[None] | None]
_Entry = tuple[bytes | str, dict[Any, Any] | None]


def stream_key(account: str, prefix: str = "bridge") -> str:
    """The account's event stream (its hash tag keeps an account on one cluster slot)."""
    return f"{prefix}:{{{account.lower()}}}:events"


class EventConsumer:
    """``EventConsumer(redis, stream_key(account), "ledger", "ledger-1", handler)``;
    ``await consumer.run()``. ``redis`` is a ``redis.asyncio`` client (standalone or
    cluster) made with the default ``decode_responses=False``."""

    def __init__(
        self,
        redis: Redis | RedisCluster,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        count: int = 100,
        block: float = 2.0,
        claim_idle: float = 60.0,
        claim_every: float = 10.0,
        start: str = "0",
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._handler = handler
        self._count = count
        self._block_ms = max(1, int(block * 1000))
        self._claim_idle_ms = int(claim_idle * 1000)
        self._claim_every = claim_every
        self._start = start
        self._stopping = asyncio.Event()
        self._next_claim = 0.0
        self.handled = 0
        self.claimed = 0

    def __repr__(self) -> str:
        return f"EventConsumer({self.stream!r}, group={self.group!r}, consumer={self.consumer!r})"

    def stop(self) -> None:
        """End ``run()`` after the batch in hand is handled and acknowledged."""
        self._stopping.set()

    def stop_on_signals(self, *signals: signal.Signals) -> None:
        """Call ``stop()`` on SIGTERM and SIGINT (or the given signals); from a running loop."""
        loop = asyncio.get_running_loop()
        for number in signals or (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self.stop)

    async def ensure_group(self) -> None:
        """Create the group at ``start`` ("0": every retained event; "$": new ones only)."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=self._start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Handle events until ``stop()``; a handler's exception ends it, unacknowledged."""
        await self.ensure_group()
        await self._handle_own_pending()
        while not self._stopping.is_set():
            await self.run_once()

    async def run_once(self) -> int:
        """One round: take over stale entries when due, then read and handle one batch."""
        handled = 0
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self._claim_every
            handled += await self._claim_stale()
        if self._stopping.is_set():
            return handled
        answer = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self._count, block=self._block_ms
        )
        for _, entries in _streams(answer):
            handled += await self._handle(entries)
        return handled

    async def _handle_own_pending(self) -> None:
        # What this consumer read before a restart and never acknowledged: its own now.
        while not self._stopping.is_set():
            answer = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=self._count
            )
            entries = [entry for _, batch in _streams(answer) for entry in batch]
            if not entries:
                return
            await self._handle(entries)

    async def _claim_stale(self) -> int:
        handled, cursor = 0, "0-0"
        while True:
            answer = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=cursor,
                count=self._count,
            )
            cursor, entries = _text(answer[0]), answer[1]
            self.claimed += len(entries)
            handled += await self._handle(entries)
            if cursor == "0-0" or self._stopping.is_set():
                return handled

    async def _handle(self, entries: list[_Entry]) -> int:
        done = 0
        for entry_id, fields in entries:
            if fields:  # None/empty: trimmed from the stream since it was read
                result = self._handler(Event.decode(_field(fields, "event")))
                if inspect.isawaitable(result):
                    await result
                done += 1
                self.handled += 1
            await self.redis.xack(self.stream, self.group, entry_id)
        return done


def _streams(answer: Any) -> list[tuple[Any, list[_Entry]]]:
    # RESP2 answers a list of [stream, entries]; RESP3 a mapping stream → entries.
    if not answer:
        return []
    return list(answer.items()) if isinstance(answer, dict) else [tuple(x) for x in answer]


def _field(fields: dict[Any, Any], name: str) -> bytes:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        raise ValueError(f"stream entry has no {name!r} field")
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
