"""Fault runs: a fleet of transactions driven while bridge processes, Redis or the upstream
misbehave, and a tally taken from what Redis and the receiver hold at the end."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
import msgspec
from redis.exceptions import RedisError

from bridge.calypso.client import CalypsoClient
from bridge.delivery.sealed_secrets import SealedSecrets
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.poller.watchlist import WatchList
from bridge.sealing import KeyRing
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import ACCOUNT, LOOPBACK_RECEIVERS, SECRETS_KEYS, worker_env
from tests.support.fleet import LIFECYCLE, Fleet, make_fleet
from tests.support.reading import stream_entries
from tests.support.receiver import WebhookReceiver
from tests.support.waiting import eventually

__all__ = ["KEYS", "Tally", "chaos_env", "drive", "finish", "setup_run", "step", "tally"]

KEYS = Keys("bridge", ACCOUNT)


def chaos_env(redis_url: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    return worker_env(
        redis_url,
        sandbox_url,
        BRIDGE_POLL_HOT_INTERVAL="500ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_POLL_LEASE="3s",
        **LOOPBACK_RECEIVERS,
        BRIDGE_WEBHOOK_TIMEOUT="1s",
        BRIDGE_WEBHOOK_RETRY_SCHEDULE="0s,200ms,500ms,1s,2s,3s,5s,5s",
        **{"BRIDGE_CALYPSO_TIMEOUT": "1s", **extra},
    )


async def setup_run(
    redis: RedisClient,
    calypso: CalypsoClient,
    control: httpx.AsyncClient,
    receiver_url: str,
    size: int,
) -> tuple[Fleet, str]:
    sealed = SealedSecrets(KeyRing.parse(SECRETS_KEYS), KEYS.account)
    subscription = await SubscriptionStore(redis, KEYS, sealed).create(f"{receiver_url}/hook")
    fleet = await make_fleet(size, calypso, WatchList(redis, KEYS), control, KEYS.events)
    return fleet, subscription.id


async def step(fleet: Fleet, redis: RedisClient, control: httpx.AsyncClient) -> bool:
    """One round of the driver that survives Redis being away; whether the fleet is done."""
    with contextlib.suppress(RedisError):  # away: the next round tries again
        await fleet.read(redis)
        await fleet.advance_observed(control)
    return fleet.done()


async def drive(
    fleet: Fleet,
    redis: RedisClient,
    control: httpx.AsyncClient,
    *,
    until: Callable[[], bool],
    within: float,
) -> None:
    """Step the fleet every 50 ms until ``until()`` holds (a count reached, a moment come)."""

    async def reached() -> bool:
        await step(fleet, redis, control)
        return until()

    await eventually(reached, within=within, interval=0.05, what="the fleet's goal")


async def finish(
    fleet: Fleet,
    redis: RedisClient,
    control: httpx.AsyncClient,
    receiver: WebhookReceiver,
    within: float,
) -> None:
    """Drive every transaction to its end, then wait until each event has been delivered."""
    deadline = time.monotonic() + within
    await drive(fleet, redis, control, until=fleet.done, within=within)

    def delivered() -> bool:
        return set(fleet.ids) <= {a.headers["webhook-id"] for a in receiver.arrivals("/hook")}

    with contextlib.suppress(AssertionError):
        await eventually(delivered, within=max(0.0, deadline - time.monotonic()), interval=0.1)
        return
    received = {a.headers["webhook-id"] for a in receiver.arrivals("/hook")}
    missing = set(fleet.ids) - received
    described = []
    for entry, fields in await stream_entries(redis, KEYS.events):
        if fields[b"id"].decode() in missing:
            described.append((entry.decode(), fields[b"type"].decode()))
    queues = {}
    for subscription in cast(list[bytes], await redis.hkeys(KEYS.subscriptions)):
        sub = subscription.decode()
        queues[sub] = {
            "due": await redis.zrange(KEYS.deliveries_due(sub), 0, 5, withscores=True),
            "leases": await redis.hlen(KEYS.deliveries_leases(sub)),
            "states": await redis.hlen(KEYS.deliveries_state(sub)),
            "dead": await redis.hlen(KEYS.deliveries_dead(sub)),
            "disabled": await redis.hget(KEYS.subscriptions_disabled, sub),
            "record": await redis.hget(KEYS.subscriptions, sub),
        }
    raise AssertionError(
        f"{len(missing)} of {len(fleet.ids)} events not delivered: {described}; queues {queues}; "
        f"active {await redis.smembers(KEYS.deliveries_active)}; now {time.time()}"
    )


@dataclass(frozen=True)
class Tally:
    transitions: int
    stream_duplicates: int
    missing_transitions: int
    deliveries: int
    delivery_duplicates: int
    undelivered: int


async def tally(redis: RedisClient, fleet: Fleet, receiver: WebhookReceiver) -> Tally:
    """Count from the final state of Redis and the receiver, not from what the driver saw."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ids: list[str] = []
    for _, fields in await stream_entries(redis, KEYS.events):
        event = msgspec.json.decode(fields[b"event"])
        ids.append(event["id"])
        if event["type"].startswith("transaction."):
            events[event["data"]["transaction"]["id"]].append(event)
    missing = sum(
        len(LIFECYCLE) - len({e["type"] for e in events[tx]} & set(LIFECYCLE))
        for tx in fleet.transactions
    )
    arrivals = [a.headers["webhook-id"] for a in receiver.arrivals("/hook")]
    return Tally(
        transitions=sum(len(v) for v in events.values()),
        stream_duplicates=len(ids) - len(set(ids)),
        missing_transitions=missing,
        deliveries=len(arrivals),
        delivery_duplicates=len(arrivals) - len(set(arrivals)),
        undelivered=len(set(ids) - set(arrivals)),
    )
