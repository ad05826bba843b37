"""Real things for every test: Redis (standalone, or the cluster in the ``[cluster]`` runs),
the sandbox and a webhook receiver on sockets, the API app, workers.

Servers live for the session (one set per xdist worker); what a test touches is reset for
it: Redis flushed, the sandbox's customers, faults and logs cleared, the receiver emptied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis, RedisCluster

from bridge.api.app import create_app
from bridge.calypso.client import CalypsoClient
from bridge.config import Settings
from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from bridge.store.connection import RedisClient, connect
from bridge.store.keys import Keys
from bridge.wiring import Components
from bridge.worker import Worker
from tests.support.config import (
    ACCOUNT,
    API_KEY,
    API_SECRET,
    FAST_RETRY,
    TOKEN,
    calypso_client,
    scenario_settings,
)
from tests.support.event_schemas import check_event_streams
from tests.support.receiver import WebhookReceiver, serve_receiver
from tests.support.redis_cluster import redis_cluster
from tests.support.redis_modes import ACCOUNT_SLOT, keys_by_slot
from tests.support.redis_server import real_redis
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.workers import WorkerFactory

# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def standalone_redis_url() -> Iterator[str]:
    with real_redis() as url:
        yield url


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    """Three masters, started the first time a test asks for the cluster."""
    with redis_cluster(masters=3) as url:
        yield url


@pytest.fixture
def redis_mode(request: pytest.FixtureRequest) -> str:
    """The test's Redis: standalone unless parametrised (see tests/support/redis_modes.py)."""
    return str(getattr(request, "param", "standalone"))


@pytest.fixture
def redis_url(redis_mode: str, request: pytest.FixtureRequest) -> str:
    if redis_mode == "cluster":
        return str(request.getfixturevalue("cluster_url"))
    return str(request.getfixturevalue("standalone_redis_url"))


@pytest.fixture
async def redis(
    redis_url: str, redis_mode: str, request: pytest.FixtureRequest
) -> AsyncIterator[RedisClient]:
    """A client of the test's Redis, emptied first. At the end every event left in a stream
    must validate against its type's schema (tests/support/event_schemas.py), and on the
    cluster every key must live in the account's slot."""
    check_events = request.node.get_closest_marker("foreign_events") is None
    if redis_mode == "standalone":
        plain = Redis.from_url(redis_url)
        await plain.flushdb()
        yield plain
        try:
            if check_events:
                await check_event_streams(plain)
        finally:
            await plain.aclose()
        return
    cluster = connect(redis_url)
    assert isinstance(cluster, RedisCluster)
    await cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield cluster
    try:
        if check_events:
            await check_event_streams(cluster)
        found = await keys_by_slot(cluster)
        misplaced = {key: slot for key, slot in found.items() if slot != ACCOUNT_SLOT}
        assert not misplaced, f"keys outside the account's slot {ACCOUNT_SLOT}: {misplaced}"
    finally:
        await cluster.aclose()


# --- the sandbox (Calypso) and a webhook receiver --------------------------------------------


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningServer]:
    config = SandboxConfig(account=ACCOUNT, api_key=API_KEY, api_secret=API_SECRET, seed=7)
    with serve_in_thread(create_sandbox_app(config)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: RunningServer) -> Iterator[RunningServer]:
    """The sandbox, emptied: no customers, faults, counters, request log or webhooks (and
    emptied again after the test, so it never keeps sending to a receiver that is gone)."""
    reset = f"{sandbox_server.url}/sandbox/reset"
    httpx.post(reset).raise_for_status()
    yield sandbox_server
    httpx.post(reset).raise_for_status()


@pytest.fixture
async def sandbox_control(sandbox: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        yield client


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[WebhookReceiver]:
    with serve_receiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(receiver_server: WebhookReceiver) -> Iterator[WebhookReceiver]:
    """A webhook receiver on 127.0.0.1 (``receiver.url``), empty and answering 200."""
    receiver_server.reset()
    yield receiver_server
    receiver_server.release()  # never leave a sender waiting on a held answer


# --- the bridge ----------------------------------------------------------------------------


@pytest.fixture
def settings(redis_url: str, sandbox: RunningServer) -> Settings:
    return scenario_settings(redis_url, sandbox.url)


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.key_prefix, settings.calypso_account)


@pytest.fixture
async def components(settings: Settings, redis: RedisClient) -> AsyncIterator[Components]:
    """The bridge's own components on the test's Redis and sandbox, as the API and the worker
    build them (for tests of a service below the API)."""
    built = Components(settings, retry=FAST_RETRY)
    yield built
    await built.aclose()


@pytest.fixture
async def calypso(sandbox: RunningServer) -> AsyncIterator[CalypsoClient]:
    """A Calypso client of the test's own, for setting up customers without the API."""
    async with calypso_client(sandbox.url) as client:
        yield client


@pytest.fixture
async def api(settings: Settings, redis: RedisClient) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings, retry=FAST_RETRY)
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


@pytest.fixture
async def workers(settings: Settings, redis: RedisClient) -> AsyncIterator[WorkerFactory]:
    """Makes workers (``workers()``, ``workers(other_settings)``); all closed at the end."""
    factory = WorkerFactory(settings)
    yield factory
    await factory.aclose()


@pytest.fixture
def worker(workers: WorkerFactory) -> Worker:
    """A worker the test drives itself: ``worker.drain()`` polls, ``worker.deliver()`` sends."""
    return workers()


@pytest.fixture
async def dispatching(workers: WorkerFactory, worker: Worker) -> Worker:
    """The worker's dispatcher running in the background, as in production."""
    workers.start(worker.dispatcher.run)
    return worker
