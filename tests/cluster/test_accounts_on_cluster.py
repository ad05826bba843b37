"""Scale-out by account: on the three-master cluster, three accounts whose hash tags fall on
different masters run the lifecycle at once, and each master then holds only its own
account's keys."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from bridge.calypso import models
from bridge.store.connection import connect
from bridge.wiring import Components
from bridge.worker import Worker
from tests.support.accounts import AccountSetup, accounts_settings, other_account, sandbox_for
from tests.support.config import FAST_RETRY
from tests.support.receiver import WebhookReceiver
from tests.support.steps import advance, deposit

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = connect(cluster_url)
    assert isinstance(client, RedisCluster)
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    await client.aclose()


def one_account_per_master(cluster: RedisCluster) -> dict[str, str]:
    """Account id → the name of the master that owns its hash tag's slot, one per master."""
    chosen: dict[str, str] = {}
    for n in range(1, 10_000):
        account = f"0x{n:040x}"
        node = cluster.nodes_manager.get_node_from_slot(key_slot(account.encode()))
        assert node is not None
        if node.name not in chosen.values():
            chosen[account] = node.name
        if len(chosen) == 3:
            return chosen
    raise AssertionError("no three accounts on three masters")


async def lifecycle(
    components: Components, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    """Customer, address, a deposit that advances, its events, and a webhook delivered."""
    path = f"/hooks/{components.account.id}"
    await components.subscriptions.create(f"{receiver.url}{path}", event_types=["transaction.*"])
    customer = (await components.customers.create_or_find(models.CustomerCreate())).customer
    purse = await components.addresses.issue(uuid.UUID(str(customer.id)), "ETH")
    transaction = await deposit(control, purse.address, "2.5")
    await receiver.wait_for(1, path, within=30)
    await advance(control, transaction)
    arrivals = await receiver.wait_for(2, path, within=30)
    types = [json.loads(a.body)["type"] for a in arrivals]
    assert types[0] == "transaction.mem_pool_found", types
    assert all(json.loads(a.body)["account"] == components.account.id for a in arrivals)


async def test_three_accounts_on_three_masters_keep_their_keys_apart(
    cluster_url: str, cluster: RedisCluster, receiver: WebhookReceiver
) -> None:
    masters = one_account_per_master(cluster)
    async with contextlib.AsyncExitStack() as stack:
        setups: list[AccountSetup] = []
        controls: dict[str, httpx.AsyncClient] = {}
        for seed, account in enumerate(masters):
            server = stack.enter_context(sandbox_for(other_account(account), seed=seed))
            setups.append(other_account(account, server.url))
            controls[account] = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url)
            )
        settings = accounts_settings(
            cluster_url, setups, BRIDGE_REDIS_CLUSTER="true", BRIDGE_METRICS_PORT="0"
        )
        worker = Worker(settings, retry=FAST_RETRY, name="cluster-worker")
        stack.push_async_callback(worker.aclose)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await asyncio.gather(
                *(lifecycle(worker.deployment.accounts[a], controls[a], receiver) for a in masters)
            )
        finally:
            stop.set()
            await running

    # Ask each master what it holds: only keys with its own account's tag.
    by_master: dict[str, set[str]] = {}
    for node in cluster.get_primaries():
        async with Redis(host=node.host, port=int(node.port)) as direct:
            keys = [key.decode() async for key in direct.scan_iter(count=500)]
        by_master[node.name] = {key.split("{", 1)[1].split("}", 1)[0] for key in keys}
        assert keys, node.name
        assert all("{" in key for key in keys), keys
    assert by_master == {name: {account} for account, name in masters.items()}
