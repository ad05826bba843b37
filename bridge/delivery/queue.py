"""Deliveries in Redis: one leased queue per subscription, fed from the event stream.

A delivery is one (event, subscription) pair: a member of the subscription's due queue plus
a small state record (attempts so far, where the event's bytes are). Turning a stream entry
into deliveries and acknowledging the entry is one script, so a crash either leaves the
entry pending for the consumer group (it is claimed again) or has created every delivery;
never half. A delivery leaves the queue only when it succeeded, was refused for good (410)
or went to the dead-letter record, each under the lease of the worker that sent it.

An ordered subscription (``"ordering": "customer"``) keeps each customer's deliveries in a
line sorted by stream entry, and only the line's first is in the due queue: claims, leases,
retries and hand-backs treat it like any delivery, and settling it for good makes the next
one due in the same script. A worker that dies holding a first leaves it leased until its
lease runs out; nothing behind it moves meanwhile, so a crash never reorders a line. Two
consumers may fan out their batches in either order, so a line's first is not claimed while
an earlier entry of its customer is read by the group but not yet fanned out.

The hot path is batched: one claim returns leases with their states and event bytes, and
the outcomes of many attempts are settled in one pipelined round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import msgspec
from redis.typing import EncodableT

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import Lease
from bridge.store.scripts import (
    DELIVERY_CLAIM,
    DELIVERY_ENQUEUE,
    DELIVERY_FAN_OUT,
    DELIVERY_HAND_BACK,
    DELIVERY_RETIRE,
    DELIVERY_SETTLE,
    Call,
    Script,
)

__all__ = ["Claimed", "DeadLetter", "DeliveryQueue", "DeliveryState", "FanOut", "Settlement"]

ATTEMPT_LOG_LENGTH = 2_000  # per subscription; see deploy/CAPACITY.md


class DeliveryState(msgspec.Struct, frozen=True, omit_defaults=True):
    eventType: str
    attempts: int = 0
    entry: str | None = None  # stream entry id, where the bytes are
    # Inline bytes: a test event the stream never saw, or a dead letter's kept copy of an
    # event (which may have left the stream since); these are sent rather than the entry.
    body: bytes | None = None
    line: str | None = None  # the customer whose line it waits in (ordered subscriptions)

    @property
    def test(self) -> bool:
        """A sample event: it exists only in its delivery, never in the stream."""
        return self.entry is None


class DeadLetter(msgspec.Struct, frozen=True):
    """A delivery that gave up, with the event's bytes as sent (``body``; None only when the
    event had left the stream before it could be sent), so replay and redeliver work after
    the stream has trimmed the entry."""

    eventId: str
    eventType: str
    attempts: int
    lastOutcome: str
    at: int
    entry: str | None = None
    body: bytes | None = None
    line: str | None = None  # the customer whose line it left (ordered subscriptions)

    def redelivery(self) -> DeliveryState:
        """The delivery that sends the kept bytes again, through its customer's line if it
        had one (so it still never overtakes that customer's earlier events)."""
        return DeliveryState(self.eventType, entry=self.entry, body=self.body, line=self.line)


@dataclass(frozen=True, slots=True)
class FanOut:
    entry_id: str
    event_id: str
    event_type: str
    subscription_ids: tuple[str, ...]
    customer_id: str | None = None
    ordered: frozenset[str] = frozenset()  # of subscription_ids, those that line it up

    def line(self, subscription_id: str) -> str | None:
        """The customer whose line the delivery to ``subscription_id`` joins, if any."""
        return self.customer_id if subscription_id in self.ordered else None


@dataclass(frozen=True, slots=True)
class Claimed:
    lease: Lease
    state: DeliveryState
    body: bytes | None


@dataclass(slots=True)
class Settlement:
    """What an attempt came to: done (delivered or gone), retry at ``due_ms``, or dead."""

    subscription_id: str
    lease: Lease
    kind: Literal["done", "retry", "dead"]
    # The endpoint failed (True: the failing clock runs), succeeded (False: it stops), or
    # was not asked (None: a delivery given up without an attempt leaves the clock alone).
    failed: bool | None
    gone: bool = False
    attempt: bytes = b""
    due_ms: int = 0
    state: DeliveryState | None = None
    dead: DeadLetter | None = None
    line: str | None = None  # the customer line it leaves when done or dead...
    entry: str | None = None  # ...from its place there


_ENDPOINT: dict[bool | None, str] = {True: "1", False: "0", None: ""}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _encode(state: DeliveryState) -> bytes:
    return msgspec.json.encode(state)


def _place(entry: str | None, event_id: str) -> str:
    """A delivery's place in its line: sorts as its stream entry does (see store/lua/_line.lua)."""
    ms, _, seq = (entry or "0-0").partition("-")
    return f"{int(ms):020d}-{int(seq or 0):020d}|{event_id}"


_state_decoder = msgspec.json.Decoder(DeliveryState)
_letter_decoder = msgspec.json.Decoder(DeadLetter)


class DeliveryQueue:
    def __init__(self, redis: RedisClient, keys: Keys, *, first_delay: float = 0.0) -> None:
        self._redis = redis
        self._keys = keys
        self._first_delay_ms = int(first_delay * 1000)
        self._fan_out = Script(redis, DELIVERY_FAN_OUT)
        self._enqueue = Script(redis, DELIVERY_ENQUEUE)
        self._claim = Script(redis, DELIVERY_CLAIM)
        self._settle = Script(redis, DELIVERY_SETTLE)
        self._return = Script(redis, DELIVERY_HAND_BACK)
        self._retire = Script(redis, DELIVERY_RETIRE)

    async def fan_out(self, group: str, batch: Sequence[FanOut]) -> None:
        """Create the deliveries of stream entries and acknowledge them: one script call."""
        if not batch:
            return
        due = _now_ms() + self._first_delay_ms
        numbers: dict[str, int] = {}
        for item in batch:
            for subscription_id in item.subscription_ids:
                numbers.setdefault(subscription_id, len(numbers) + 1)
        keys = [self._keys.events, self._keys.deliveries_active]
        for subscription_id in numbers:
            keys += [
                self._keys.deliveries_due(subscription_id),
                self._keys.deliveries_state(subscription_id),
            ]
        lines: dict[str, int] = {}
        args: list[EncodableT] = [group, due, len(numbers), *numbers]
        for item in batch:
            state = DeliveryState(item.event_type, entry=item.entry_id)
            if item.ordered:  # only ordered subscriptions read the lined state and the place
                lined = _encode(msgspec.structs.replace(state, line=item.customer_id))
                place = _place(item.entry_id, item.event_id)
            else:
                lined, place = b"", ""
            args += [item.entry_id, item.event_id, _encode(state), lined]
            args += [place, len(item.subscription_ids)]
            for subscription_id in item.subscription_ids:
                customer = item.line(subscription_id)
                line = 0
                if customer is not None:
                    key = self._keys.deliveries_line(subscription_id, customer)
                    line = lines.setdefault(key, len(keys) + len(lines) + 1)
                args += [numbers[subscription_id], line]
        await self._fan_out([*keys, *lines], args)

    async def enqueue(self, subscription_id: str, event_id: str, state: DeliveryState) -> bool:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_state(subscription_id),
            self._keys.deliveries_dead(subscription_id),
            self._keys.deliveries_active,
            self._keys.deliveries_dead_since(subscription_id),
            self._keys.deliveries_leases(subscription_id),
        ]
        args: list[EncodableT] = [event_id, _encode(state), _now_ms(), subscription_id]
        if state.line is not None:
            keys.append(self._keys.deliveries_line(subscription_id, state.line))
            args.append(_place(state.entry, event_id))
        return bool(await self._enqueue(keys, args))

    async def active(self) -> list[str]:
        members = await self._redis.smembers(self._keys.deliveries_active)
        return sorted(m.decode() for m in cast(set[bytes], members))

    async def claim(
        self, subscription_id: str, worker: str, limit: int, lease_seconds: float
    ) -> list[Claimed]:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_leases(subscription_id),
            self._keys.deliveries_state(subscription_id),
            self._keys.events,
        ]
        args: list[EncodableT] = [
            _now_ms(),
            int(lease_seconds * 1000),
            limit,
            worker,
            self._keys.dispatcher_group,
        ]
        claimed = []
        for item, token, raw_state, body in await self._claim(keys, args):
            state = _state_decoder.decode(raw_state)
            lease = Lease(item.decode(), token.decode(), 0.0)
            claimed.append(Claimed(lease, state, state.body if state.body is not None else body))
        return claimed

    async def settle(self, settlements: Sequence[Settlement]) -> list[int | None]:
        """Record many outcomes in one round trip (one script call per subscription); for
        each, the unix ms since when its subscription has been failing (None if it is not,
        or if the lease was lost)."""
        now = _now_ms()
        groups: dict[str, list[int]] = {}
        for index, s in enumerate(settlements):
            groups.setdefault(s.subscription_id, []).append(index)
        calls: list[Call] = []
        for sub, indexes in groups.items():
            keys = [
                self._keys.deliveries_due(sub),
                self._keys.deliveries_leases(sub),
                self._keys.deliveries_state(sub),
                self._keys.deliveries_dead(sub),
                self._keys.attempts(sub),
                self._keys.subscriptions_failing,
                self._keys.deliveries_dead_since(sub),
            ]
            lines: dict[str, int] = {}
            args: list[EncodableT] = [sub, now, ATTEMPT_LOG_LENGTH]
            for index in indexes:
                s = settlements[index]
                line = 0
                if s.line is not None:
                    key = self._keys.deliveries_line(sub, s.line)
                    line = lines.setdefault(key, len(keys) + len(lines) + 1)
                args += [
                    s.lease.item,
                    s.lease.token,
                    s.kind,
                    s.due_ms,
                    b"" if s.state is None else _encode(s.state),
                    b"" if s.dead is None else msgspec.json.encode(s.dead),
                    s.attempt,
                    _ENDPOINT[s.failed],
                    line,
                    _place(s.entry, s.lease.item) if line else "",
                ]
            calls.append(([*keys, *lines], args))
        answers = await self._settle.many(calls) if calls else []
        failing: list[int | None] = [None] * len(settlements)
        for indexes, answer in zip(groups.values(), answers, strict=True):
            for index, value in zip(indexes, answer, strict=True):
                failing[index] = value if value > 0 else None
        return failing

    async def hand_back(self, subscription_id: str, lease: Lease) -> bool:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_leases(subscription_id),
        ]
        return bool(await self._return(keys, [lease.item, lease.token, _now_ms()]))

    async def retire(self, subscription_id: str) -> None:
        keys = [self._keys.deliveries_due(subscription_id), self._keys.deliveries_active]
        await self._retire(keys, [subscription_id])

    async def dead_letters(self, subscription_id: str) -> list[DeadLetter]:
        raw = await self._redis.hvals(self._keys.deliveries_dead(subscription_id))
        letters = [_letter_decoder.decode(r) for r in cast(list[bytes], raw)]
        return sorted(letters, key=lambda d: d.at, reverse=True)

    async def dead_letter(self, subscription_id: str, event_id: str) -> DeadLetter | None:
        raw = await self._redis.hget(self._keys.deliveries_dead(subscription_id), event_id)
        return None if raw is None else _letter_decoder.decode(raw)
