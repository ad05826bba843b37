"""An API intent reaches a Redis replica before the Calypso call (``WAIT``): a failover right
after the call must not lose the intent, the only record that the call's event is owed. No
replica acknowledging in time is a 503 ``storage_not_durable``, and Calypso is not called.
Real ``redis-server`` processes: a primary with a replica, and the replicated cluster."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from litestar.testing import AsyncTestClient

from bridge.api.app import create_app
from bridge.local_redis import redis_server_process
from bridge.store.keys import Keys
from tests.support.config import FAST_RETRY, TOKEN, scenario_settings
from tests.support.redis_cluster import ReplicatedCluster, replicated_redis_cluster
from tests.support.sandbox_server import RunningServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.serial  # a frozen replica makes requests wait out the WAIT timeout


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _waits(port: int) -> int:
    """How many WAIT commands this Redis ran."""
    with redis.Redis(port=port, socket_timeout=2) as client:
        stats = client.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


def _replicas_online(port: int) -> bool:
    with redis.Redis(port=port, socket_timeout=2) as client:
        info = client.info("replication")
    return int(info["connected_slaves"]) >= 1 and info["slave0"]["state"] == "online"


@contextlib.contextmanager
def primary_with_replica() -> Iterator[tuple[str, int]]:
    """A primary and a replica of it (``--replicaof``); yields the primary's URL and the
    replica's pid (to freeze with SIGSTOP)."""
    with redis_server_process() as primary:
        of = ("--replicaof", "127.0.0.1", str(_port(primary)))
        with redis_server_process(*of) as replica, redis.Redis(port=_port(replica)) as client:
            yield primary, int(client.info("server")["process_id"])


@contextlib.asynccontextmanager
async def api_on(url: str, sandbox: RunningServer) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = scenario_settings(url, sandbox.url, BRIDGE_REDIS_WAIT_TIMEOUT="300ms")
    async with AsyncTestClient(app=create_app(settings, retry=FAST_RETRY)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


async def _creates(sandbox_control: httpx.AsyncClient) -> int:
    made = await sandbox_control.get("/sandbox/requests", params={"endpoint": "customer.create"})
    return len(made.json()["items"])


async def test_an_intent_waits_for_the_replica_and_a_frozen_one_refuses_the_call(
    sandbox: RunningServer, sandbox_control: httpx.AsyncClient
) -> None:
    with primary_with_replica() as (url, replica_pid):
        port = _port(url)
        await eventually(lambda: _replicas_online(port), within=10, what="replica online")
        async with api_on(url, sandbox) as api:
            created = await api.post("/v1/customers", json={})
            assert created.status_code == 201, created.text
            assert _waits(port) >= 1  # the intent was written with WAIT
            assert await _creates(sandbox_control) == 1

            os.kill(replica_pid, signal.SIGSTOP)
            try:
                refused = await api.post("/v1/customers", json={})
            finally:
                os.kill(replica_pid, signal.SIGCONT)
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "storage_not_durable"
            assert await _creates(sandbox_control) == 1  # Calypso never saw the second


@pytest.mark.cluster
async def test_on_a_cluster_the_account_primary_replica_must_acknowledge(
    sandbox: RunningServer, sandbox_control: httpx.AsyncClient
) -> None:
    with replicated_redis_cluster() as cluster:
        await _on_cluster(cluster, sandbox, sandbox_control)


async def _on_cluster(
    cluster: ReplicatedCluster, sandbox: RunningServer, sandbox_control: httpx.AsyncClient
) -> None:
    settings = scenario_settings(cluster.url, sandbox.url)
    intents = Keys(settings.key_prefix, settings.calypso_account).intents
    master = cluster.master_of(intents)
    async with api_on(cluster.url, sandbox) as api:
        created = await api.post("/v1/customers", json={})
        assert created.status_code == 201, created.text
        assert _waits(master) >= 1
        assert await _creates(sandbox_control) == 1

        replica = cluster.replica_of(master)
        cluster.freeze(replica)
        try:
            refused = await api.post("/v1/customers", json={})
        finally:
            cluster.thaw(replica)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "storage_not_durable"
        assert await _creates(sandbox_control) == 1
