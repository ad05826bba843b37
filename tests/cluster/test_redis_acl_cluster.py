"""The bridge as its own ACL user on the three-master cluster: ACL users are per node, so the
``bridge acl bridge`` line is applied on every master; the lifecycle then meets no refusal
(slot table, scripts, transactions, WAIT) on any of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis, RedisCluster

from bridge.config import Settings
from bridge.worker import Worker
from tests.support.acl_users import AclUsers
from tests.support.config import scenario_settings
from tests.support.reading import verified
from tests.support.receiver import WebhookReceiver
from tests.support.sandbox_server import RunningServer
from tests.support.steps import advance, deposit, new_customer_with_address, poll_now, subscribe

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.parametrize("redis_mode", ["cluster"], indirect=True),
]

PASSWORD = "bridge-password-0123456789"


@pytest.fixture
async def masters(redis: RedisCluster) -> AsyncIterator[list[AclUsers]]:
    """The bridge's user on every master, made from the printed line."""
    async with AsyncExitStack() as stack:
        users = []
        for node in redis.get_primaries():
            admin = Redis(host=node.host, port=int(node.port))
            stack.push_async_callback(admin.aclose)
            made = AclUsers(admin, f"redis://{node.host}:{node.port}/0")
            stack.push_async_callback(made.aclose)
            await admin.acl_log_reset()
            await made.make("bridge", password=PASSWORD)
            users.append(made)
        yield users


@pytest.fixture
def settings(masters: list[AclUsers], redis_url: str, sandbox: RunningServer) -> Settings:
    """The test's settings, with the bridge's user in the cluster URL."""
    first = urlsplit(redis_url)
    url = f"redis+cluster://bridge:{PASSWORD}@{first.hostname}:{first.port}"
    return scenario_settings(url, sandbox.url)


async def test_the_lifecycle_on_the_cluster_as_the_bridge_acl_user(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
    masters: list[AclUsers],
) -> None:
    await worker.components.check_redis()
    subscription = await subscribe(api, f"{receiver.url}/hook")
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "2")
    await poll_now(worker, customer)
    await advance(sandbox_control, tx)
    await poll_now(worker, customer)
    await worker.deliver()
    first = await receiver.wait_for(4, "/hook")
    types = {verified(subscription["secret"], a)["type"] for a in first}
    assert {"transaction.mem_pool_found", "transaction.pending_compliance_check"} <= types
    rotated = await api.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret")
    assert rotated.status_code == 200
    replay = await api.post(
        f"/v1/subscriptions/{subscription['id']}/replay", json={"since": "2000-01-01T00:00:00Z"}
    )
    assert replay.is_success, replay.text
    await worker.deliver()
    again = await receiver.wait_for(8, "/hook")
    assert verified(rotated.json()["secret"], again[-1])
    for master in masters:
        refused = {str(e["object"]) for e in await master.denied("bridge")}
        assert refused <= {"config|get"}, refused
