"""Reading what the bridge wrote: the event stream, its consumer group, signed webhooks."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from redis.asyncio import Redis, RedisCluster
from standardwebhooks.webhooks import Webhook

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.receiver import Arrival

__all__ = [
    "Entries",
    "blocked_stream_readers",
    "fanned_out",
    "stream_entries",
    "stream_events",
    "summary",
    "transaction_events",
    "verified",
]

# What redis-py answers to XRANGE without decode_responses: (entry id, fields) pairs.
Entries = list[tuple[bytes, dict[bytes, bytes]]]


async def stream_entries(
    redis: RedisClient, key: str, *, count: int | None = None, newest_first: bool = False
) -> Entries:
    """A stream's entries as redis-py answers them, typed once here for every test."""
    if newest_first:
        return cast(Entries, await redis.xrevrange(key, count=count))
    return cast(Entries, await redis.xrange(key, count=count))


async def stream_events(redis: RedisClient, keys: Keys) -> list[dict[str, Any]]:
    """Every event in the stream, oldest first, decoded as a consumer would."""
    return [msgspec.json.decode(f[b"event"]) for _, f in await stream_entries(redis, keys.events)]


async def transaction_events(
    redis: RedisClient, keys: Keys, transaction_id: str
) -> list[dict[str, Any]]:
    return [
        e
        for e in await stream_events(redis, keys)
        if e["type"].startswith("transaction.") and e["data"]["transaction"]["id"] == transaction_id
    ]


def summary(events: list[dict[str, Any]]) -> list[tuple[str, int, Any]]:
    """(type, sequence, previous state) of each transaction event: its place in a lifecycle."""
    return [
        (
            e["type"],
            e["data"]["sequence"],
            None
            if e["data"]["previous"] is None
            else (
                e["data"]["previous"]["transactionState"],
                e["data"]["previous"]["complianceState"],
                e["data"]["previous"]["translationToAccountCompleted"],
            ),
        )
        for e in events
    ]


def verified(secret: str, arrival: Arrival) -> dict[str, Any]:
    """The webhook's payload, verified as a receiver using Standard Webhooks would."""
    payload: dict[str, Any] = Webhook(secret).verify(arrival.body, arrival.headers)
    return payload


async def fanned_out(redis: RedisClient, keys: Keys) -> bool:
    """Whether the dispatcher's group has read and acknowledged every entry of the stream:
    from then on, whatever the fan-out would make of them exists."""
    groups: list[dict[str, Any]] = await redis.xinfo_groups(keys.events)
    group = next((g for g in groups if _text(g["name"]) == keys.dispatcher_group), None)
    newest = cast(Entries, await redis.xrevrange(keys.events, count=1))
    if group is None or int(group["pending"]) != 0:
        return False
    return not newest or _text(group["last-delivered-id"]) == newest[0][0].decode()


async def blocked_stream_readers(redis: RedisClient) -> int:
    """Connections blocked in XREADGROUP (on every primary of a cluster): a fan-out waiting."""
    if isinstance(redis, RedisCluster):
        nodes = redis.get_primaries()
        found = 0
        for node in nodes:
            async with Redis(host=node.host, port=int(node.port)) as direct:
                found += _blocked(await direct.client_list())
        return found
    return _blocked(await redis.client_list())


def _blocked(clients: list[dict[str, Any]]) -> int:
    return sum(1 for c in clients if c.get("cmd") == "xreadgroup" and "b" in c.get("flags", ""))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
