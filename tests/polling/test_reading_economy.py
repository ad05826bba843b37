"""A poll reads only what it must; the stream stays bounded; the metrics see it all."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from bridge.calypso.client import CalypsoClient
from bridge.calypso.models import CustomerCreate
from bridge.events.model import Event, EventType
from bridge.events.payloads import PingData
from bridge.events.stream import EventLog
from bridge.poller.poll import PAGE_SIZE
from bridge.poller.watchlist import WatchList
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.support.steps import poll_now


async def requests(control: httpx.AsyncClient, customer: str) -> list[str]:
    log = await control.get("/sandbox/requests", params={"customerId": customer})
    return [entry["endpoint"] for entry in log.json()["items"]]


async def test_known_final_history_costs_one_call_and_open_ones_are_re_read(
    worker: Worker, calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    customer = (await calypso.create_customer(CustomerCreate())).id
    purse = await calypso.get_purse_address(uuid.UUID(customer), "BTC")
    await WatchList(worker.redis, worker.keys).watch(customer, "test")

    async def deposit(**extra: Any) -> str:
        made = await sandbox_control.post(
            "/sandbox/deposits",
            json={"address": purse.address, "currency": "BTC", "amount": "0.1", **extra},
        )
        return str(made.json()["id"])

    old_open = await deposit()  # the oldest stays open, below pages of final ones
    finals = await asyncio.gather(
        *(deposit(transactionState="DECLINED") for _ in range(2 * PAGE_SIZE + 10))
    )
    await poll_now(worker, customer)
    first = await requests(sandbox_control, customer)
    assert first.count("transaction.find") == 3  # the whole history, once
    assert len(finals) == 110

    await sandbox_control.delete("/sandbox/requests")
    await poll_now(worker, customer)
    # Page 1 starts with a known final transaction: stop there; re-read the open one alone.
    assert await requests(sandbox_control, customer) == ["transaction.find", "transaction.get"]

    await sandbox_control.post(f"/sandbox/transactions/{old_open}/advance", json={})
    await sandbox_control.delete("/sandbox/requests")
    await poll_now(worker, customer)
    assert await requests(sandbox_control, customer) == ["transaction.find", "transaction.get"]
    snapshots = await worker.events.snapshots(customer)
    assert snapshots[old_open][1].sequence == 2


@pytest.mark.foreign_events  # hand-made pings with placeholder ids measure retention
async def test_the_stream_is_bounded_by_length_and_by_age(redis: Redis) -> None:
    keys = Keys("bridge", "0x" + "ef" * 20)
    by_length = EventLog(redis, keys, retention=86400, max_length=100)

    ping = PingData("sub_bounded", "ping")

    def events(prefix: str, count: int) -> list[Event]:
        return [
            Event(id=f"evt_{prefix}{n}", type=EventType.PING, createdAt="", account="", data=ping)
            for n in range(count)
        ]

    for batch in range(10):
        await by_length.append(events(f"l{batch}-", 100))
    # Trimming is approximate (whole radix-tree nodes of 100 entries), never unbounded.
    assert 100 <= await redis.xlen(keys.events) <= 200

    await redis.delete(keys.events)
    by_age = EventLog(redis, keys, retention=0.3, max_length=1_000_000)
    await by_age.append(events("old-", 500))
    await asyncio.sleep(0.4)  # the old entries age past the retention: what is tested
    await by_age.append(events("new-", 10))
    assert await redis.xlen(keys.events) < 200


async def test_metrics_count_polls_events_and_upstream_calls(
    api: Any, worker: Worker, sandbox_control: httpx.AsyncClient
) -> None:
    customer = (await api.post("/v1/customers", json={})).json()["id"]
    address = (
        await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "ETH"})
    ).json()["address"]
    await sandbox_control.post(
        "/sandbox/deposits", json={"address": address, "currency": "ETH", "amount": "1"}
    )
    await poll_now(worker, customer)
    registry = worker.metrics.registry
    account = {"account": worker.components.account.id}
    assert registry.get_sample_value("bridge_polls_total", {**account, "outcome": "ok"}) == 1
    events = {**account, "type": "transaction.mem_pool_found"}
    assert registry.get_sample_value("bridge_events_total", events) == 1
    assert (
        registry.get_sample_value(
            "bridge_upstream_request_seconds_count",
            {**account, "endpoint": "transaction.find", "outcome": "200"},
        )
        == 1
    )
    assert registry.get_sample_value("bridge_poll_schedule_lag_seconds_count", account) == 1
