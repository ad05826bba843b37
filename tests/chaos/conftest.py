"""Chaos runs: bridge processes against a Redis that can die, the sandbox, a receiver."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.calypso.client import CalypsoClient
from bridge.delivery.subscriptions import SubscriptionStore
from bridge.poller.watchlist import WatchList
from bridge.store.keys import Keys
from tests.conftest import ACCOUNT, API_KEY, API_SECRET, FAST_RETRY
from tests.polling.fleet import LIFECYCLE, Fleet, make_fleet, worker_env
from tests.support.restartable_redis import RestartableRedis, restartable_redis
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.webhook_receiver import WebhookReceiver

KEYS = Keys("bridge", ACCOUNT)


@pytest.fixture
def aof_redis() -> Iterator[RestartableRedis]:
    with restartable_redis("everysec") as server:
        yield server


@pytest.fixture
async def chaos_redis(aof_redis: RestartableRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(aof_redis.url, socket_connect_timeout=1, socket_timeout=3)
    yield client
    await client.aclose()


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    app = WebhookReceiver()
    with serve_in_thread(app) as server:
        yield app, server.url


@pytest.fixture
async def chaos_calypso(sandbox: RunningServer) -> AsyncIterator[CalypsoClient]:
    async with CalypsoClient(
        base_url=sandbox.url,
        account=ACCOUNT,
        api_key=API_KEY,
        api_secret=API_SECRET,
        retry=FAST_RETRY,
    ) as client:
        yield client


def chaos_env(redis_url: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    return worker_env(
        redis_url,
        sandbox_url,
        BRIDGE_POLL_HOT_INTERVAL="500ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_POLL_LEASE="3s",
        BRIDGE_WEBHOOK_ALLOW_HTTP="true",
        BRIDGE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        BRIDGE_WEBHOOK_TIMEOUT="1s",
        BRIDGE_WEBHOOK_RETRY_SCHEDULE="0s,200ms,500ms,1s,2s,3s,5s,5s",
        **{"BRIDGE_CALYPSO_TIMEOUT": "1s", **extra},
    )


async def setup_run(
    redis: Redis, calypso: CalypsoClient, control: httpx.AsyncClient, receiver_url: str, size: int
) -> tuple[Fleet, str]:
    subscription = await SubscriptionStore(redis, KEYS).create(f"{receiver_url}/hook")
    fleet = await make_fleet(size, calypso, WatchList(redis, KEYS), control, KEYS.events)
    return fleet, subscription.id


async def step(fleet: Fleet, redis: Redis, control: httpx.AsyncClient) -> None:
    """One round of the driver that survives Redis being away."""
    try:
        await fleet.read(redis)
        await fleet.advance_observed(control)
    except RedisError:
        await asyncio.sleep(0.2)


async def finish(
    fleet: Fleet, redis: Redis, control: httpx.AsyncClient, app: WebhookReceiver, within: float
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not fleet.done():
        await step(fleet, redis, control)
        await asyncio.sleep(0.1)
    assert fleet.done(), "transactions did not finish"
    delivered: set[str] = set()
    while time.monotonic() < deadline:
        delivered = {a.headers["webhook-id"] for a in app.arrivals("/hook")}
        if set(fleet.ids) <= delivered:
            return
        await asyncio.sleep(0.1)
    missing = set(fleet.ids) - delivered
    described = []
    for _, fields in await redis.xrange(KEYS.events):
        if fields[b"id"].decode() in missing:
            described.append((_.decode(), fields[b"type"].decode()))
    queues = {}
    for subscription in await redis.hkeys(KEYS.subscriptions):
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


async def tally(redis: Redis, fleet: Fleet, app: WebhookReceiver) -> Tally:
    """Count from the final state of Redis and the receiver, not from what the driver saw."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ids: list[str] = []
    for _, fields in await redis.xrange(KEYS.events):
        event = msgspec.json.decode(fields[b"event"])
        ids.append(event["id"])
        if event["type"].startswith("transaction."):
            events[event["data"]["transaction"]["id"]].append(event)
    missing = sum(
        len(LIFECYCLE) - len({e["type"] for e in events[tx]} & set(LIFECYCLE))
        for tx in fleet.transactions
    )
    arrivals = [a.headers["webhook-id"] for a in app.arrivals("/hook")]
    return Tally(
        transitions=sum(len(v) for v in events.values()),
        stream_duplicates=len(ids) - len(set(ids)),
        missing_transitions=missing,
        deliveries=len(arrivals),
        delivery_duplicates=len(arrivals) - len(set(arrivals)),
        undelivered=len(set(ids) - set(arrivals)),
    )
