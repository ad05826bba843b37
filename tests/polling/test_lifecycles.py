"""Each lifecycle yields exactly one event per observed transition, in order (DESIGN §4)."""

from __future__ import annotations

import asyncio

import httpx

from bridge.events.model import Snapshot
from bridge.poller.poll import CustomerPoller
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.support.reading import stream_entries, stream_events, summary, transaction_events
from tests.support.redis_modes import both_redis_modes
from tests.support.steps import advance, deposit, new_customer_with_address, poll_now

pytestmark = both_redis_modes

AMOUNT = "0.123456789012345678"


async def test_confirmed_then_credited_one_event_per_transition_with_previous(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, AMOUNT)
    await poll_now(worker, customer)
    for _ in range(3):
        await advance(sandbox_control, tx)
        await poll_now(worker, customer)
    await poll_now(worker, customer)  # nothing new: nothing emitted

    events = await transaction_events(redis, keys, tx)
    assert summary(events) == [
        ("transaction.mem_pool_found", 1, None),
        ("transaction.pending_compliance_check", 2, ("MEM_POOL_FOUND", "UNCHECKED", False)),
        ("transaction.confirmed", 3, ("PENDING_COMPLIANCE_CHECK", "IN_PROGRESS", False)),
        ("transaction.credited", 4, ("CONFIRMED", "CHECKED", False)),
    ]
    assert {e["data"]["transaction"]["amount"] for e in events} == {AMOUNT}
    assert all(e["data"]["customerId"] == customer for e in events)
    assert all(e["account"] == worker.settings.calypso_account for e in events)
    assert all(e["createdAt"].endswith("Z") for e in events)
    assert len({e["id"] for e in events}) == 4


async def test_declined_path(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    customer, address = await new_customer_with_address(api, "BTC")
    tx = await deposit(sandbox_control, address, "0.5", "BTC")
    await poll_now(worker, customer)
    await advance(sandbox_control, tx)
    await poll_now(worker, customer)
    await advance(sandbox_control, tx, decline=True)
    await poll_now(worker, customer)
    await poll_now(worker, customer)

    events = await transaction_events(redis, keys, tx)
    assert [e["type"] for e in events] == [
        "transaction.mem_pool_found",
        "transaction.pending_compliance_check",
        "transaction.declined",
    ]
    assert events[-1]["data"]["transaction"]["complianceState"] == "DECLINE"


async def test_compliance_change_without_state_change(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "1", transactionState="PENDING_COMPLIANCE_CHECK")
    await poll_now(worker, customer)
    await sandbox_control.patch(f"/sandbox/transactions/{tx}", json={"complianceState": "CHECKED"})
    await poll_now(worker, customer)

    events = await transaction_events(redis, keys, tx)
    assert summary(events) == [
        ("transaction.pending_compliance_check", 1, None),
        (
            "transaction.compliance_updated",
            2,
            ("PENDING_COMPLIANCE_CHECK", "IN_PROGRESS", False),
        ),
    ]
    assert events[1]["data"]["transaction"]["complianceState"] == "CHECKED"


async def test_states_the_poller_never_saw_are_not_invented(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "2")
    await poll_now(worker, customer)
    await advance(sandbox_control, tx)
    await advance(sandbox_control, tx)
    await poll_now(worker, customer)

    events = await transaction_events(redis, keys, tx)
    assert summary(events) == [
        ("transaction.mem_pool_found", 1, None),
        ("transaction.confirmed", 2, ("MEM_POOL_FOUND", "UNCHECKED", False)),
    ]


async def test_concurrent_pollers_of_one_customer_emit_each_transition_once(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    """Leases are bypassed on purpose: the atomic record step alone must prevent duplicates."""
    customer, address = await new_customer_with_address(api)
    txs = [await deposit(sandbox_control, address, str(n)) for n in range(1, 6)]
    poller = CustomerPoller(worker.calypso, worker.events, worker.settings.calypso_account)
    await asyncio.gather(*(poller.poll(customer) for _ in range(8)))
    for tx in txs:
        await advance(sandbox_control, tx)
    await asyncio.gather(*(poller.poll(customer) for _ in range(8)))

    events = [e for e in await stream_events(redis, keys) if e["type"].startswith("transaction.")]
    assert len(events) == 10
    assert len({e["id"] for e in events}) == 10
    snapshots = await worker.events.snapshots(customer)
    assert {s.sequence for _, s in snapshots.values()} == {2}


async def test_a_stale_record_writes_nothing_and_returns_the_current_snapshot(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "3")
    await poll_now(worker, customer)
    before = await redis.xlen(worker.keys.events)
    done, current = await worker.events.record(
        customer, tx, b"", Snapshot.decode(b'["MEM_POOL_FOUND","UNCHECKED",false,1]'), []
    )
    assert done is False
    assert Snapshot.decode(current).sequence == 1
    assert await redis.xlen(worker.keys.events) == before


async def test_an_18_decimal_amount_arrives_as_the_exact_string_in_the_stream(
    api: httpx.AsyncClient,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisClient,
    keys: Keys,
) -> None:
    customer, address = await new_customer_with_address(api)
    await deposit(sandbox_control, address, "1.000000000000000001")
    await poll_now(worker, customer)
    entries = await stream_entries(redis, worker.keys.events)
    raw = [fields[b"event"] for _, fields in entries if fields[b"type"].startswith(b"transaction")]
    assert b'"amount":"1.000000000000000001"' in raw[0]


async def test_api_actions_are_events_too(
    api: httpx.AsyncClient, redis: RedisClient, keys: Keys
) -> None:
    created = (await api.post("/v1/customers", json={"externalId": "ev-1"})).json()
    await api.post("/v1/customers", json={"externalId": "ev-1"})  # same customer: no 2nd event
    customer = created["id"]
    await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "BTC"})
    await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "BTC"})
    await api.patch(f"/v1/customers/{customer}", json={"description": "x"})
    await api.post(f"/v1/customers/{customer}/block")
    await api.post(f"/v1/customers/{customer}/unblock")

    events = await stream_events(redis, keys)
    assert [e["type"] for e in events] == [
        "customer.created",
        "deposit_address.issued",
        "customer.updated",
        "customer.blocked",
        "customer.unblocked",
    ]
    assert events[0]["data"]["customer"]["externalId"] == "ev-1"
    assert events[1]["data"]["purse"]["address"].startswith("bc1q")
    assert events[3]["data"]["customer"]["blocked"] is True
