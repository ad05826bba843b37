"""Deliveries in Redis: one leased queue per subscription, fed from the event stream.

A delivery is one (event, subscription) pair: a member of the subscription's due queue plus
a small state record (attempts so far, where the event's bytes are). Turning a stream entry
into deliveries and acknowledging the entry is one script, so a crash either leaves the
entry pending for the consumer group (it is claimed again) or has created every delivery;
never half. A delivery leaves the queue only when it succeeded, was refused for good (410)
or went to the dead-letter record, each under the lease of the worker that sent it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import msgspec

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import CLAIM, Lease, parse_claimed

__all__ = ["DeadLetter", "DeliveryQueue", "DeliveryState", "FanOut"]

# KEYS: stream, active set, then (due, state) per target subscription.
# ARGV: group, entry id, event id, state json, due ms, then one subscription id per target.
# Creates the deliveries of one stream entry and acknowledges it, in one step.
_FAN_OUT = """
for i = 3, #KEYS, 2 do
  if redis.call('HSETNX', KEYS[i + 1], ARGV[3], ARGV[4]) == 1 then
    redis.call('ZADD', KEYS[i], ARGV[5], ARGV[3])
  end
  redis.call('SADD', KEYS[2], ARGV[6 + (i - 3) / 2])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS: due, state, dead, active. ARGV: event id, state json, due ms, subscription id.
# Queues a delivery again (replay, redeliver, test); one already waiting is left alone.
_ENQUEUE = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
"""

# KEYS: due, leases, state, dead. ARGV: event id, lease token, dead-letter record or ''.
# Ends a delivery for good, only while this worker still holds it.
_FINISH = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[3]) end
return 1
"""

# KEYS: due, leases, state. ARGV: event id, lease token, due ms, state json.
# Schedules the next attempt, only while this worker still holds the delivery.
_RETRY = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
return 1
"""

# KEYS: due, active. ARGV: subscription id. Forgets an empty queue, atomically.
_RETIRE = """
if redis.call('ZCARD', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""


class DeliveryState(msgspec.Struct, frozen=True, omit_defaults=True):
    eventType: str
    attempts: int = 0
    entry: str | None = None  # stream entry id, where the bytes are
    body: bytes | None = None  # inline bytes, for test events that are not in the stream


class DeadLetter(msgspec.Struct, frozen=True):
    eventId: str
    eventType: str
    attempts: int
    lastOutcome: str
    at: int
    entry: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class FanOut:
    entry_id: str
    event_id: str
    event_type: str
    subscription_ids: tuple[str, ...]


def _now_ms() -> int:
    return int(time.time() * 1000)


class DeliveryQueue:
    def __init__(self, redis: RedisClient, keys: Keys, *, first_delay: float = 0.0) -> None:
        self._redis = redis
        self._keys = keys
        self._first_delay_ms = int(first_delay * 1000)
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(CLAIM)
        self._finish = redis.register_script(_FINISH)
        self._retry = redis.register_script(_RETRY)
        self._retire = redis.register_script(_RETIRE)

    async def fan_out(self, group: str, batch: Sequence[FanOut]) -> None:
        """Create the deliveries of stream entries and acknowledge them (one round trip)."""
        due = _now_ms() + self._first_delay_ms
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in batch:
                state = msgspec.json.encode(DeliveryState(item.event_type, entry=item.entry_id))
                keys = [self._keys.events, self._keys.deliveries_active]
                for subscription_id in item.subscription_ids:
                    keys += [
                        self._keys.deliveries_due(subscription_id),
                        self._keys.deliveries_state(subscription_id),
                    ]
                args: list[str | int | bytes] = [
                    group,
                    item.entry_id,
                    item.event_id,
                    state,
                    due,
                    *item.subscription_ids,
                ]
                # EVAL, not a registered script: a pipeline cannot load scripts on demand.
                pipe.eval(_FAN_OUT, len(keys), *keys, *args)
            await pipe.execute()

    async def enqueue(self, subscription_id: str, event_id: str, state: DeliveryState) -> bool:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_state(subscription_id),
            self._keys.deliveries_dead(subscription_id),
            self._keys.deliveries_active,
        ]
        args: list[str | int | bytes] = [
            event_id,
            msgspec.json.encode(state),
            _now_ms(),
            subscription_id,
        ]
        return bool(await self._enqueue(keys=keys, args=args))

    async def active(self) -> list[str]:
        members = await self._redis.smembers(self._keys.deliveries_active)
        return sorted(m.decode() for m in cast(set[bytes], members))

    async def claim(
        self, subscription_id: str, worker: str, limit: int, lease_seconds: float
    ) -> list[tuple[Lease, DeliveryState]]:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_leases(subscription_id),
            self._keys.deliveries_unused(subscription_id),
        ]
        args: list[str | int] = [_now_ms(), int(lease_seconds * 1000), limit, worker]
        leases = parse_claimed(await self._claim(keys=keys, args=args))
        if not leases:
            return []
        states = await self._redis.hmget(
            self._keys.deliveries_state(subscription_id), [lease.item for lease in leases]
        )
        return [
            (lease, msgspec.json.decode(raw, type=DeliveryState))
            for lease, raw in zip(leases, states, strict=True)
            if raw is not None
        ]

    async def bodies(self, states: Sequence[DeliveryState]) -> list[bytes | None]:
        """The event bytes of each delivery (None if the stream no longer has them)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            wanted = [s.entry for s in states if s.body is None and s.entry]
            for entry in wanted:
                pipe.xrange(self._keys.events, entry, entry)
            found = dict(zip(wanted, await pipe.execute(), strict=True))
        bodies: list[bytes | None] = []
        for state in states:
            if state.body is not None:
                bodies.append(state.body)
                continue
            entries = found.get(state.entry or "")
            bodies.append(entries[0][1][b"event"] if entries else None)
        return bodies

    async def finish(
        self, subscription_id: str, lease: Lease, dead: DeadLetter | None = None
    ) -> bool:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_leases(subscription_id),
            self._keys.deliveries_state(subscription_id),
            self._keys.deliveries_dead(subscription_id),
        ]
        record = b"" if dead is None else msgspec.json.encode(dead)
        return bool(await self._finish(keys=keys, args=[lease.item, lease.token, record]))

    async def retry(
        self,
        subscription_id: str,
        lease: Lease,
        due_ms: int,
        state: DeliveryState,
    ) -> bool:
        keys = [
            self._keys.deliveries_due(subscription_id),
            self._keys.deliveries_leases(subscription_id),
            self._keys.deliveries_state(subscription_id),
        ]
        args: list[str | int | bytes] = [
            lease.item,
            lease.token,
            due_ms,
            msgspec.json.encode(state),
        ]
        return bool(await self._retry(keys=keys, args=args))

    async def retire(self, subscription_id: str) -> None:
        keys = [self._keys.deliveries_due(subscription_id), self._keys.deliveries_active]
        await self._retire(keys=keys, args=[subscription_id])

    async def waiting(self, subscription_id: str) -> int:
        return int(await self._redis.zcard(self._keys.deliveries_due(subscription_id)))

    async def dead_letters(self, subscription_id: str) -> list[DeadLetter]:
        raw = await self._redis.hvals(self._keys.deliveries_dead(subscription_id))
        letters = [msgspec.json.decode(r, type=DeadLetter) for r in cast(list[bytes], raw)]
        return sorted(letters, key=lambda d: d.at, reverse=True)
