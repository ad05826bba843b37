"""One account's backlog and upstream outage never starve another account's polls and
deliveries: every account has its own loops, concurrency, Calypso client and rate limit."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from bridge.calypso import models
from bridge.events.model import EventType
from bridge.events.samples import sample_event
from bridge.store.connection import RedisClient
from bridge.wiring import Components
from tests.support.accounts import AccountSetup, accounts_settings
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.steps import deposit
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory

BACKLOG = 300


@pytest.mark.timeout(90)
async def test_a_backlog_and_an_upstream_outage_in_one_account_leave_the_other_prompt(
    redis_url: str,
    redis: RedisClient,
    accounts: tuple[AccountSetup, AccountSetup],
    receiver: WebhookReceiver,
    sandbox_control: httpx.AsyncClient,
    sandbox_b_control: httpx.AsyncClient,
    workers: WorkerFactory,
) -> None:
    a_setup, b_setup = accounts
    settings = accounts_settings(redis_url, accounts, BRIDGE_METRICS_PORT="0")
    worker = workers(settings)
    a, b = worker.deployment.accounts[a_setup.id], worker.deployment.accounts[b_setup.id]

    # Account A: Calypso hangs on every call, 40 customers are due for a poll, and 300
    # deliveries wait for a receiver that answers 500 after 1.5 s.
    faults = {"timeoutRate": 1.0, "hangSeconds": 5}
    (await sandbox_control.put("/sandbox/faults", json=faults)).raise_for_status()
    for _ in range(40):
        await a.watchlist.watch(str(uuid.uuid4()), "test")
    receiver.answer_always("/a", Answer(status=500, delay=1.5))
    await a.subscriptions.create(f"{receiver.url}/a")
    backlog = [sample_event(a_setup.id, EventType.CUSTOMER_CREATED, "sub") for _ in range(BACKLOG)]
    await a.events.append(backlog)

    # Account B: a customer with an address, subscribed at /b.
    await b.subscriptions.create(f"{receiver.url}/b", event_types=["transaction.*"])
    customer = (await b.customers.create_or_find(models.CustomerCreate())).customer
    purse = await b.addresses.issue(uuid.UUID(str(customer.id)), "ETH")

    workers.start(worker.run)
    # A's loops are busy: its receiver is being hit and its polls hang.
    await receiver.wait_for(10, "/a", within=15)

    started = time.monotonic()
    await deposit(sandbox_b_control, purse.address, "1.5")
    arrivals = await receiver.wait_for(1, "/b", within=10)
    took = time.monotonic() - started
    assert b"transaction.mem_pool_found" in arrivals[0].body
    # Hot customers are polled every 200 ms: B's event is polled and delivered in seconds.
    assert took < 5, took
    # ...while A's backlog is far from done.
    assert len(receiver.arrivals("/a")) < BACKLOG
    pending = await eventually(
        lambda: _pending(redis, a), within=5, what="A's deliveries still waiting"
    )
    assert pending > 0


async def _pending(redis: RedisClient, components: Components) -> int:
    subscription = (await components.subscriptions.all())[0]
    return int(await redis.zcard(components.keys.deliveries_due(subscription.id)))
