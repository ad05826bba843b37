"""The bridge on a three-master Redis Cluster that this session starts and stops.

Every fixture that needs Redis gets the cluster here: ``redis_url`` and ``settings`` point at
it (so the shared ``api`` fixture builds its app on it), ``redis`` is a ``RedisCluster``
client made by the bridge's own :func:`bridge.store.connection.connect`, and every primary
is flushed before each test. After each test, every key on every node must sit in the one
slot of the account's hash tag (DESIGN §5): that is what keeps scripts and MULTI legal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.cluster import key_slot

from bridge.config import Settings
from bridge.store.connection import connect
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.conftest import ACCOUNT, FAST_RETRY, make_settings
from tests.support.redis_cluster import redis_cluster
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.webhook_receiver import WebhookReceiver

RETRY_SCHEDULE = "0s,200ms,400ms"
ACCOUNT_SLOT = key_slot(ACCOUNT.lower().encode())


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    with redis_cluster(masters=3) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(cluster_url: str) -> str:
    """Anything in this package that asks for "the" Redis gets the cluster."""
    return cluster_url


@pytest.fixture
async def redis(cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = connect(cluster_url)
    assert isinstance(client, RedisCluster)
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    try:
        found = await keys_by_slot(client)
        misplaced = {key: slot for key, slot in found.items() if slot != ACCOUNT_SLOT}
        assert not misplaced, f"keys outside the account's slot {ACCOUNT_SLOT}: {misplaced}"
    finally:
        await client.aclose()


@pytest.fixture
def settings(cluster_url: str, sandbox: RunningServer) -> Settings:
    """The polling and delivery suites' settings, on the cluster."""
    configured = make_settings(
        cluster_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="200ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_UPSTREAM_RATE_LIMIT="2000",
        BRIDGE_CALYPSO_WEBHOOK_SECRET="inbound-secret",
        BRIDGE_WEBHOOK_ALLOW_HTTP="true",
        BRIDGE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8,::1/128",
        BRIDGE_WEBHOOK_RETRY_SCHEDULE=RETRY_SCHEDULE,
        BRIDGE_WEBHOOK_TIMEOUT="2s",
    )
    assert configured.redis_cluster
    return configured


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.key_prefix, settings.calypso_account)


@pytest.fixture
async def worker(settings: Settings, redis: RedisCluster) -> AsyncIterator[Worker]:
    instance = Worker(settings, retry=FAST_RETRY, name="cluster-worker")
    assert isinstance(instance.redis, RedisCluster)
    yield instance
    await instance.aclose()


@pytest.fixture
async def dispatching(worker: Worker) -> AsyncIterator[Worker]:
    """The worker's dispatcher running in the background, as in production."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.dispatcher.run(stop))
    yield worker
    stop.set()
    await task


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    app = WebhookReceiver()
    with serve_in_thread(app) as server:
        yield app, server.url


async def keys_by_slot(client: RedisCluster) -> dict[str, int]:
    """Every key on every primary (``SCAN`` node by node), with its ``CLUSTER KEYSLOT``."""
    found: dict[str, int] = {}
    for node in client.get_primaries():
        async with Redis(host=node.host, port=node.port) as direct:
            async for key in direct.scan_iter(count=500):
                slot = int(await direct.execute_command("CLUSTER KEYSLOT", key))
                found[key.decode()] = slot
    return found
