"""The customer service: create-or-find by externalId, idempotency keys, and what it records.

Real Redis and the sandbox; the API's own tests cover the HTTP answers these turn into.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.calypso.errors import CalypsoUnavailable
from bridge.customers import CustomerService, ExternalIdInFlight, IdempotentRequest
from bridge.events.model import EventType
from bridge.store.idempotency import IdempotencyKeyInFlight, IdempotencyKeyReused
from bridge.wiring import Components
from tests.support.redis_modes import both_redis_modes

pytestmark = both_redis_modes


@pytest.fixture
def customers(components: Components) -> CustomerService:
    # As wired, but giving up on a held externalId lock after 0.2 s instead of 15 s.
    c = components
    return CustomerService(
        calypso=c.calypso,
        redis=c.redis,
        keys=c.keys,
        watchlist=c.watchlist,
        events=c.events,
        idempotency=c.idempotency,
        intents=c.intents,
        account=c.settings.calypso_account,
        lock_wait=0.2,
    )


async def _events_of(components: Components, customer_id: str) -> list[str]:
    page = await components.events.page(
        cursor=None, limit=100, newest_first=False, customer_id=customer_id
    )
    return [stored.type for stored in page.items]


def _key(name: str, body: str = "body-1") -> IdempotentRequest:
    return IdempotentRequest(scope="caller-a", key=name, fingerprint=body)


async def test_a_customer_without_external_id_is_created_watched_and_announced(
    customers: CustomerService, components: Components
) -> None:
    outcome = await customers.create_or_find(models.CustomerCreate(email="ada@example.com"))
    assert (outcome.created, outcome.replayed) == (True, False)
    assert outcome.customer.email == "ada@example.com"
    assert (await components.watchlist.get(outcome.customer.id)) is not None
    assert await _events_of(components, outcome.customer.id) == [EventType.CUSTOMER_CREATED]


async def test_an_external_id_already_taken_finds_that_customer_and_announces_nothing_new(
    customers: CustomerService, components: Components
) -> None:
    first = await customers.create_or_find(models.CustomerCreate(externalId="user-7"))
    again = await customers.create_or_find(
        models.CustomerCreate(externalId="user-7", email="other@example.com")
    )
    assert (first.created, again.created) == (True, False)
    assert again.customer == first.customer
    assert await _events_of(components, first.customer.id) == [EventType.CUSTOMER_CREATED]


async def test_a_customer_made_elsewhere_and_found_by_external_id_is_not_announced_as_created(
    customers: CustomerService, components: Components, calypso: CalypsoClient
) -> None:
    existing = await calypso.create_customer(models.CustomerCreate(externalId="made-elsewhere"))
    found = await customers.create_or_find(models.CustomerCreate(externalId="made-elsewhere"))
    assert (found.created, found.customer) == (False, existing)
    assert (await components.watchlist.get(existing.id)) is not None
    assert await _events_of(components, existing.id) == []


async def test_a_held_external_id_lock_is_refused_as_in_flight(
    customers: CustomerService, components: Components, sandbox_control: httpx.AsyncClient
) -> None:
    holder = components.redis.lock(components.keys.external_id_lock("busy"), timeout=5)
    assert await holder.acquire()
    try:
        with pytest.raises(ExternalIdInFlight):
            await customers.create_or_find(models.CustomerCreate(externalId="busy"))
    finally:
        await holder.release()
    creates = await sandbox_control.get("/sandbox/requests", params={"endpoint": "customer.create"})
    assert creates.json()["items"] == []
    created = await customers.create_or_find(models.CustomerCreate(externalId="busy"))
    assert created.created


async def test_a_second_request_with_a_key_gets_the_first_answer_again(
    customers: CustomerService,
) -> None:
    found_later = models.CustomerCreate(externalId="user-8")
    existing = await customers.create_or_find(found_later)
    first = await customers.create_or_find(found_later, _key("k-1"))
    replay = await customers.create_or_find(found_later, _key("k-1"))
    assert (first.created, first.replayed) == (False, False)
    assert (replay.created, replay.replayed) == (False, True)
    assert replay.customer == first.customer == existing.customer


async def test_a_key_whose_first_request_still_runs_is_refused_as_in_flight(
    customers: CustomerService, components: Components
) -> None:
    await components.idempotency.claim("caller-a", "k-2", "body-1")  # the first request
    with pytest.raises(IdempotencyKeyInFlight):
        await customers.create_or_find(models.CustomerCreate(), _key("k-2"))


async def test_a_key_reused_for_another_request_is_refused(customers: CustomerService) -> None:
    await customers.create_or_find(models.CustomerCreate(), _key("k-3", "body-1"))
    with pytest.raises(IdempotencyKeyReused):
        await customers.create_or_find(models.CustomerCreate(email="x@y.io"), _key("k-3", "body-2"))


async def test_a_failed_create_frees_its_key_and_the_retry_runs(
    customers: CustomerService, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 500, "endpoints": ["customer.create"]},
    )
    with pytest.raises(CalypsoUnavailable):
        await customers.create_or_find(models.CustomerCreate(), _key("k-4"))
    retried = await customers.create_or_find(models.CustomerCreate(), _key("k-4"))
    assert (retried.created, retried.replayed) == (True, False)


async def test_concurrent_creates_with_one_key_run_once(customers: CustomerService) -> None:
    outcomes = await asyncio.gather(
        *(customers.create_or_find(models.CustomerCreate(), _key("k-5")) for _ in range(4)),
        return_exceptions=True,
    )
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, IdempotencyKeyInFlight)]
    assert (len(done), len(refused)) == (1, 3)
    assert done[0].created


async def test_block_unblock_and_update_are_announced(
    customers: CustomerService, components: Components
) -> None:
    customer = (await customers.create_or_find(models.CustomerCreate())).customer
    customer_id = uuid.UUID(customer.id)
    assert (await customers.block(customer_id)).blocked
    assert not (await customers.unblock(customer_id)).blocked
    updated = await customers.update(models.CustomerUpdate(customer_id, "new@example.com", None))
    assert updated.email == "new@example.com"
    assert await _events_of(components, customer.id) == [
        EventType.CUSTOMER_CREATED,
        EventType.CUSTOMER_BLOCKED,
        EventType.CUSTOMER_UNBLOCKED,
        EventType.CUSTOMER_UPDATED,
    ]
