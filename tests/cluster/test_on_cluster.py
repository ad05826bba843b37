"""What only a Redis Cluster has to show: three masters, and every key of the account in the
one slot of its hash tag (DESIGN §5, §9).

The lifecycle, delivery and API scenarios run on the cluster too, from their own files (their
``[cluster]`` variants, see tests/support/redis_modes.py); the ``redis`` fixture checks after
each of them that every key left lives in the account's slot. This file adds a full run that
touches every kind of key at once, and asks each node what it holds; and a script that one
node forgot (restart, failover) is sent again to that node alone.
"""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis, RedisCluster

from bridge.store.keys import Keys
from bridge.store.scripts import IDEMPOTENCY_CLAIM, Script
from bridge.worker import Worker
from tests.support.hints import hint, send_signed_hint
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.redis_modes import ACCOUNT_SLOT, keys_by_slot
from tests.support.steps import advance, deposit, new_customer_with_address, poll_now, subscribe
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.parametrize("redis_mode", ["cluster"], indirect=True),
]


async def test_the_cluster_has_three_masters_and_the_bridge_talks_to_it(
    redis: RedisCluster, worker: Worker
) -> None:
    primaries = redis.get_primaries()
    assert len(primaries) == 3
    assert all(node.host == "127.0.0.1" for node in primaries)
    assert isinstance(worker.redis, RedisCluster)
    owner = redis.nodes_manager.get_node_from_slot(ACCOUNT_SLOT)
    assert owner is not None
    assert owner.name in {node.name for node in primaries}


async def test_every_key_of_a_full_run_lives_in_the_accounts_one_slot(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
    redis: RedisCluster,
    keys: Keys,
) -> None:
    """Customers, idempotency, addresses, polling, the stream, deliveries, dead letters,
    inbound hints, rate limiting: then SCAN every node and ask each key's slot."""
    receiver.answer_always("/down", Answer(500))
    healthy = await subscribe(api, f"{receiver.url}/hook")
    # One event only, so the circuit breaker (5 failures in a row) never holds it back.
    down = await subscribe(api, f"{receiver.url}/down", eventTypes=["deposit_address.issued"])
    await api.post("/v1/customers", json={"externalId": "slot"})
    await api.post("/v1/customers", json={}, headers={"Idempotency-Key": "slot"})
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "0.123456789012345678")
    await poll_now(worker, customer)
    await advance(sandbox_control, tx)
    assert (await send_signed_hint(api, hint(customer, webhook_id=777))).status_code == 202
    await worker.drain()

    async def dead_lettered() -> bool:
        await worker.deliver()  # the retries are due 200 and 400 ms after each failure
        return bool(await worker.deliveries.dead_letters(down["id"]))

    await eventually(dead_lettered, within=5, what="the failing delivery dead-lettered")
    await api.post(f"/v1/subscriptions/{healthy['id']}/test")
    await worker.deliver()
    await api.get("/metrics")

    found = await keys_by_slot(redis)
    expected = {
        keys.events,
        keys.watched,
        keys.poll_schedule,
        keys.poll_state,
        keys.subscriptions,
        keys.transactions(customer),
    }
    assert expected <= set(found)
    assert any(":idem:" in key for key in found)
    assert any(":inbound:" in key for key in found)
    assert any(key.endswith(":dead") for key in found)
    assert all(key.startswith(f"{keys.base}:") for key in found), sorted(found)
    assert set(found.values()) == {ACCOUNT_SLOT}
    owner = redis.nodes_manager.get_node_from_slot(ACCOUNT_SLOT)
    for node in redis.get_primaries():
        if node.name != owner.name:
            async with Redis(host=node.host, port=int(node.port)) as direct:
                assert await direct.dbsize() == 0


async def test_a_script_one_node_forgot_is_sent_again_only_to_that_node(
    redis: RedisCluster,
) -> None:
    client = redis
    # Keys of other hash tags than the account's, one per primary; one primary forgets.
    by_node: dict[str, str] = {}
    for n in range(100):
        key = f"{{scripts-{n}}}:claim"
        node = client.get_node_from_key(key)
        assert node is not None
        by_node.setdefault(node.name, key)
    keys = list(by_node.values())
    assert len(keys) == 3
    claim = Script(client, IDEMPOTENCY_CLAIM)
    await claim.load()
    await client.execute_command("SCRIPT FLUSH", target_nodes=client.get_node_from_key(keys[0]))
    assert await claim.many([([k], [b"first", 60_000]) for k in keys]) == [None] * 3
    assert await claim.many([([k], [b"again", 60_000]) for k in keys]) == [b"first"] * 3
    for key in keys:  # outside the account's slot on purpose; the fixture checks the rest
        await client.delete(key)
