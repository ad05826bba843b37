"""The clients against the bridge itself: every kind of route answers a typed struct, and
problems arrive as typed exceptions (async over the app, sync over a real socket)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bridge.api.app import create_app
from bridge.client import (
    AsyncBridgeClient,
    BadRequest,
    BridgeClient,
    Event,
    EventType,
    NotFound,
    verify_webhook,
)
from bridge.client.models import CustomerData, SubscriptionWithSecret
from bridge.config import Settings
from bridge.worker import Worker
from tests.support.config import TOKEN
from tests.support.receiver import WebhookReceiver
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.waiting import eventually


@pytest.fixture
def client(api: httpx.AsyncClient) -> AsyncBridgeClient:
    return AsyncBridgeClient(str(api.base_url), TOKEN, http=api)


async def test_customers_addresses_watch_and_events_through_the_async_client(
    client: AsyncBridgeClient,
) -> None:
    customer = await client.create_customer(external_id="ext-1", email="a@example.com")
    again = await client.create_customer(external_id="ext-1")
    assert again.id == customer.id
    assert (await client.find_customers("ext-1")).items == [customer]
    changed = await client.update_customer(customer.id, description="vip")
    assert changed.description == "vip"
    assert (await client.block_customer(customer.id)).blocked
    assert not (await client.unblock_customer(customer.id)).blocked
    purse = await client.issue_address(customer.id, "ETH")
    assert [p.address for p in (await client.list_purses(customer.id)).items] == [purse.address]
    assert (await client.watch_status(customer.id)).watched
    assert not (await client.unwatch(customer.id)).watched
    assert (await client.watch(customer.id)).watched
    page = await client.list_transactions(customer.id, page_size=10)
    assert page.items == []
    assert [t async for t in client.iter_transactions(customer.id)] == []

    events = [e async for e in client.iter_events(limit=2, customer_id=customer.id, order="asc")]
    assert [e.type for e in events] == [
        EventType.CUSTOMER_CREATED,
        EventType.CUSTOMER_UPDATED,
        EventType.CUSTOMER_BLOCKED,
        EventType.CUSTOMER_UNBLOCKED,
        EventType.DEPOSIT_ADDRESS_ISSUED,
    ]
    assert isinstance(events[0].data, CustomerData)
    assert await client.get_event(events[0].id) == events[0]
    first = await client.list_events(limit=1, types=[EventType.DEPOSIT_ADDRESS_ISSUED])
    assert [e.id for e in first.items] == [events[-1].id]

    # The event stream read for a second: the same events, then nothing after the last.
    streamed = await client.read_event_stream(after="0", wait=1, customer_id=customer.id)
    assert [s.event for s in streamed] == events
    rest = await client.read_event_stream(after=streamed[-1].position, wait=1)
    assert rest == []
    with pytest.raises(BadRequest):
        await client.read_event_stream(after="not-a-position")

    catalog = await client.list_event_types()
    assert {info.type for info in catalog} == set(EventType)
    issued = await client.get_event_type(EventType.DEPOSIT_ADDRESS_ISSUED)
    assert issued in catalog
    with pytest.raises(NotFound):
        await client.get_event_type("no.such_type")


async def test_problems_are_typed_and_keep_their_code(client: AsyncBridgeClient) -> None:
    with pytest.raises(NotFound) as missing:
        await client.get_event("evt_" + "a" * 26)
    assert missing.value.code == "not_found"
    assert missing.value.status == 404
    with pytest.raises(BadRequest) as bad:
        await client.list_events(limit=-5)
    assert bad.value.code == "invalid_request"
    with pytest.raises(NotFound):
        await client.get_subscription("sub_" + "b" * 24)


async def test_subscriptions_tests_deliveries_replay_and_audit_through_the_client(
    client: AsyncBridgeClient, receiver: WebhookReceiver, dispatching: Worker
) -> None:
    created = await client.create_subscription(f"{receiver.url}/hooks", description="d")
    assert isinstance(created, SubscriptionWithSecret)
    assert created.secret.startswith("whsec_")
    assert created.secret not in repr(created)
    assert [s.id for s in (await client.list_subscriptions()).items] == [created.id]
    updated = await client.update_subscription(created.id, event_types=["customer.*", "ping"])
    assert updated.eventTypes == ["customer.*", "ping"]
    queued = await client.send_test(created.id)
    assert queued.queued == 1
    arrivals = await receiver.wait_for(1)
    event = verify_webhook(created.secret, arrivals[0].body, arrivals[0].headers)
    assert event.type is EventType.PING

    customer = await client.create_customer()
    await eventually(lambda: len(receiver.arrivals()) == 2, within=10)

    async def logged() -> bool:
        types = {a.eventType async for a in client.iter_deliveries(created.id, limit=1)}
        return types == {"ping", "customer.created"}

    await eventually(logged, within=10)  # the attempt log follows the receiver's answer
    assert (await client.list_dead_letters(created.id)).items == []
    mine = [e async for e in client.iter_events(customer_id=customer.id)]
    created_event = next(e for e in mine if e.type == "customer.created")
    assert (await client.redeliver(created_event.id, subscription_id=created.id)).queued == 1
    await eventually(lambda: len(receiver.arrivals()) == 3, within=10)
    since = datetime.now(UTC) - timedelta(minutes=5)

    async def replayed() -> bool:
        # 0 while the redelivery is still settling (one delivery per event in flight).
        return (await client.replay(created.id, since)).queued >= 1

    await eventually(replayed, within=10)
    rotated = await client.rotate_secret(created.id)
    assert rotated.secret != created.secret
    assert rotated.secret not in repr(rotated)
    actions = [entry.action async for entry in client.iter_audit(limit=2)]
    assert len(actions) >= 3
    await client.delete_subscription(created.id)
    with pytest.raises(NotFound):
        await client.get_subscription(created.id)


@pytest.fixture
def served(settings: Settings, redis: Any) -> Iterator[RunningServer]:
    with serve_in_thread(create_app(settings)) as server:
        yield server


def test_the_blocking_client_over_a_real_socket(served: RunningServer) -> None:
    with BridgeClient(served.url, TOKEN) as client:
        customer = client.create_customer(email="b@example.com")
        assert client.get_customer(customer.id) == customer
        seen: list[Event] = list(client.iter_events(limit=1, order="asc"))
        assert [e.data for e in seen] == [CustomerData(customer.id, customer)]
        with pytest.raises(NotFound):
            client.get_transaction("00000000-0000-4000-8000-00000000dead")
