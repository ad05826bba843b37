"""At start, the API and the worker read Redis's persistence and eviction settings (DESIGN
§6): a Redis that would lose data gets a warning naming the setting, or a refusal to start
with ``BRIDGE_REDIS_REQUIRE_DURABLE=true``. Every Redis here is a real ``redis-server``,
configured as the case needs: with ``CONFIG`` renamed away or an ACL user without it, as
managed services do, and each primary of a cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError

from bridge.local_redis import free_port, redis_server_process
from bridge.store.connection import connect
from bridge.store.durability import durability_problems
from tests.support.config import worker_env
from tests.support.processes import bridge_processes, wait_until_listening
from tests.support.waiting import eventually

DURABLE = ("--appendonly", "yes", "--maxmemory-policy", "noeviction")
NO_CALYPSO = "http://127.0.0.1:9"  # these processes never get as far as calling it


@pytest.fixture
def durable_url() -> Iterator[str]:
    with redis_server_process(*DURABLE) as url:
        yield url


@pytest.fixture
def ephemeral_url() -> Iterator[str]:
    """Nothing kept on disk: neither an append-only file nor RDB snapshots."""
    with redis_server_process() as url:
        yield url


async def problems_of(url: str) -> list[str]:
    client = connect(url)
    try:
        return await durability_problems(client)
    finally:
        await client.aclose()


async def test_append_only_and_noeviction_is_durable(durable_url: str) -> None:
    assert await problems_of(durable_url) == []


async def test_a_redis_that_keeps_nothing_is_named_by_its_settings(ephemeral_url: str) -> None:
    (problem,) = await problems_of(ephemeral_url)
    assert "appendonly is no and save is empty" in problem


async def test_rdb_snapshots_alone_are_not_enough() -> None:
    with redis_server_process("--save", "60 1") as url:
        (problem,) = await problems_of(url)
    assert "appendonly is no, only RDB snapshots (save '60 1')" in problem


async def test_an_evicting_memory_policy_is_named() -> None:
    with redis_server_process("--appendonly", "yes", "--maxmemory-policy", "allkeys-lru") as url:
        (problem,) = await problems_of(url)
    assert "maxmemory-policy is allkeys-lru" in problem


async def test_a_redis_with_config_renamed_away_is_read_through_info() -> None:
    """As managed services do: ``rename-command CONFIG ""`` in the server's configuration."""
    renamed = ("--rename-command", "CONFIG", "", "--maxmemory-policy", "volatile-lru")
    with redis_server_process("--appendonly", "yes", *renamed) as url:
        async with Redis.from_url(url) as plain:
            with pytest.raises(ResponseError, match="unknown command"):
                await plain.config_get("appendonly")
        (problem,) = await problems_of(url)
    assert "maxmemory-policy is volatile-lru" in problem
    with redis_server_process("--rename-command", "CONFIG", "") as url:
        (problem,) = await problems_of(url)
    assert "appendonly is no and no RDB schedule could be read" in problem


@pytest.fixture
async def acl_redis(durable_url: str) -> AsyncIterator[str]:
    """A durable Redis with two users: one without CONFIG, one without CONFIG and INFO."""
    async with Redis.from_url(durable_url) as admin:
        for user, commands in (("noconfig", ["-config"]), ("noinfo", ["-config", "-info"])):
            await admin.acl_setuser(
                user,
                enabled=True,
                passwords=[f"+pw-{user}"],
                keys=["*"],
                channels=["*"],
                commands=["+@all", *commands],
            )
        yield durable_url


async def test_an_acl_user_without_config_is_read_through_info(acl_redis: str) -> None:
    url = acl_redis.replace("redis://", "redis://noconfig:pw-noconfig@")
    async with Redis.from_url(url) as limited:
        with pytest.raises(ResponseError, match="no permissions"):
            await limited.config_get("appendonly")
    assert await problems_of(url) == []


async def test_a_redis_whose_settings_cannot_be_read_is_of_unknown_durability(
    acl_redis: str,
) -> None:
    url = acl_redis.replace("redis://", "redis://noinfo:pw-noinfo@")
    (problem,) = await problems_of(url)
    assert "cannot be read (CONFIG and INFO are not allowed)" in problem


@pytest.mark.cluster
async def test_every_primary_of_a_cluster_is_read(cluster_url: str) -> None:
    cluster = connect(cluster_url)
    assert isinstance(cluster, RedisCluster)
    await cluster.initialize()
    primaries = cluster.get_primaries()
    evicting = primaries[-1]  # not the node the URL names: the check must look beyond it
    await cluster.config_set("maxmemory-policy", "allkeys-lfu", target_nodes=evicting)
    try:
        problems = await durability_problems(cluster)
    finally:
        await cluster.config_set("maxmemory-policy", "noeviction", target_nodes=evicting)
        await cluster.aclose()
    # The test cluster keeps nothing on disk: each primary is named for it.
    assert sorted(p.split(":", 2)[1].split(" ")[0] for p in problems if "appendonly" in p) == (
        sorted(str(node.port) for node in primaries)
    )
    (policy,) = [p for p in problems if "maxmemory-policy" in p]
    assert policy.startswith(f"Redis {evicting.name}: maxmemory-policy is allkeys-lfu")


# --- the processes -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("role", ["api", "worker"])
def test_with_durability_required_a_process_refuses_a_redis_that_keeps_nothing(
    ephemeral_url: str, role: str
) -> None:
    env = worker_env(ephemeral_url, NO_CALYPSO, BRIDGE_REDIS_REQUIRE_DURABLE="true")
    env |= {"BRIDGE_HTTP_HOST": "127.0.0.1", "BRIDGE_HTTP_PORT": str(free_port())}
    with bridge_processes(role, 1, env) as (process,):
        assert process.process is not None
        code = process.process.wait(timeout=30)
        output = process.output()
    assert code == 2, output
    assert "bridge: cannot start:" in output
    assert "appendonly is no and save is empty" in output
    assert "Traceback" not in output


@pytest.mark.slow
async def test_without_durability_required_the_worker_warns_and_runs(ephemeral_url: str) -> None:
    env = worker_env(ephemeral_url, NO_CALYPSO)
    with bridge_processes("worker", 1, env) as (worker,):
        await eventually(
            lambda: "appendonly is no" in worker.output(), within=20, what="the warning"
        )
        assert worker.process is not None
        assert worker.process.poll() is None, worker.output()
        assert "redis may lose data: Redis: appendonly is no and save is empty" in worker.output()


@pytest.mark.slow
async def test_with_durability_required_the_api_starts_on_a_durable_redis(
    durable_url: str,
) -> None:
    port = free_port()
    env = worker_env(durable_url, NO_CALYPSO, BRIDGE_REDIS_REQUIRE_DURABLE="true")
    env |= {"BRIDGE_HTTP_HOST": "127.0.0.1", "BRIDGE_HTTP_PORT": str(port)}
    with bridge_processes("api", 1, env) as (api,):
        await wait_until_listening(port)
        assert "may lose data" not in api.output()
