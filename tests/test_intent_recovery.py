"""Recovery settles the intents a request left behind, from what Calypso shows now.

A request cut short after its Calypso call is staged here by making the call under its intent
(``intents.attempt``) and then doing nothing more, which is what a crash leaves. The API
process's own crash is in tests/ops/test_api_crash_recovery.py.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.calypso.errors import CalypsoNotFound, CalypsoUnavailable
from bridge.intents import (
    BlockCustomer,
    CreateCustomer,
    IssueAddress,
    UnblockCustomer,
    UpdateCustomer,
)
from bridge.recovery import IntentRecovery
from bridge.wiring import Components
from tests.support.redis_modes import both_redis_modes

pytestmark = both_redis_modes


def _recovery(c: Components, recover_after: float = 0.0) -> IntentRecovery:
    return IntentRecovery(
        intents=c.intents,
        calypso=c.calypso,
        customers=c.customers,
        addresses=c.addresses,
        metrics=c.metrics,
        recover_after=recover_after,
    )


async def _types(c: Components, customer_id: str) -> list[str]:
    page = await c.events.page(cursor=None, limit=100, newest_first=False, customer_id=customer_id)
    return [stored.type for stored in page.items]


async def _unsettled(c: Components) -> int:
    return int(await c.redis.hlen(c.keys.intents))


async def _died_before_the_call() -> None:
    """The call of an intent whose process died after recording it, before calling."""


async def _fail_next(control: httpx.AsyncClient, endpoint: str) -> None:
    fault = {"failNext": 1, "failNextStatus": 500, "endpoints": [endpoint]}
    (await control.put("/sandbox/faults", json=fault)).raise_for_status()


async def test_a_block_that_took_effect_is_announced_once_however_often_recovery_runs(
    components: Components, calypso: CalypsoClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    customer_id = uuid.UUID(customer.id)
    await components.intents.attempt(
        BlockCustomer(customerId=customer.id), lambda: calypso.block_customer(customer_id)
    )
    recovery = _recovery(components)
    assert await recovery.recover() == {"completed": 1}
    assert await recovery.recover() == {}
    assert await _types(components, customer.id) == ["customer.blocked"]
    assert await _unsettled(components) == 0


async def test_an_update_that_never_reached_calypso_is_dropped_without_an_event(
    components: Components, calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate(email="old@example.com"))
    update = models.CustomerUpdate(uuid.UUID(customer.id), email="new@example.com")
    await _fail_next(sandbox_control, "customer.update")
    with pytest.raises(CalypsoUnavailable):
        await components.customers.update(update)
    assert await _unsettled(components) == 1  # a 500: the outcome is not known yet
    assert await _recovery(components).recover() == {"dropped": 1}
    assert await _types(components, customer.id) == []


async def test_a_call_calypso_refused_settles_its_intent_at_once(components: Components) -> None:
    with pytest.raises(CalypsoNotFound):
        await components.customers.unblock(uuid.uuid4())
    assert await _unsettled(components) == 0


async def test_an_unblock_is_completed_only_when_the_customer_is_unblocked(
    components: Components, calypso: CalypsoClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    await calypso.block_customer(uuid.UUID(customer.id))
    await components.intents.attempt(UnblockCustomer(customerId=customer.id), _died_before_the_call)
    assert await _recovery(components).recover() == {"dropped": 1}
    assert await _types(components, customer.id) == []


async def test_an_update_found_in_place_is_announced_with_the_customer_as_it_is_now(
    components: Components, calypso: CalypsoClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    update = models.CustomerUpdate(uuid.UUID(customer.id), description="vip")
    await components.intents.attempt(
        UpdateCustomer(customerId=customer.id, description="vip"),
        lambda: calypso.update_customer(update),
    )
    assert await _recovery(components).recover() == {"completed": 1}
    page = await components.events.page(
        cursor=None, limit=10, newest_first=False, customer_id=customer.id
    )
    (event,) = page.items
    assert event.type == "customer.updated"
    assert b'"description":"vip"' in event.body


async def test_a_create_with_external_id_is_learnt_by_looking_the_id_up(
    components: Components, calypso: CalypsoClient
) -> None:
    request = models.CustomerCreate(externalId="cut-short")
    await components.intents.attempt(
        CreateCustomer(externalId="cut-short"), lambda: calypso.create_customer(request)
    )
    await components.intents.attempt(CreateCustomer(externalId="never-made"), _died_before_the_call)
    assert await _recovery(components).recover() == {"completed": 1, "dropped": 1}
    (created,) = await calypso.find_customers_by_external_id("cut-short")
    assert await _types(components, created.id) == ["customer.created"]
    assert (await components.watchlist.get(created.id)) is not None
    assert await calypso.find_customers_by_external_id("never-made") == []


async def test_a_create_without_external_id_cannot_be_learnt_and_is_dropped_as_unknown(
    components: Components, calypso: CalypsoClient
) -> None:
    await components.intents.attempt(
        CreateCustomer(), lambda: calypso.create_customer(models.CustomerCreate())
    )
    assert await _recovery(components).recover() == {"unknown": 1}
    assert await _unsettled(components) == 0


async def test_an_address_is_learnt_from_the_customers_purses(
    components: Components, calypso: CalypsoClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    customer_id = uuid.UUID(customer.id)
    await components.intents.attempt(
        IssueAddress(customerId=customer.id, currency="ETH"),
        lambda: calypso.get_purse_address(customer_id, "ETH"),
    )
    await components.intents.attempt(
        IssueAddress(customerId=customer.id, currency="BTC"),
        _died_before_the_call,
    )
    assert await _recovery(components).recover() == {"completed": 1, "dropped": 1}
    assert await _types(components, customer.id) == ["deposit_address.issued"]
    assert (await components.watchlist.get(customer.id)) is not None


async def test_an_intent_younger_than_the_recovery_age_is_left_to_its_request(
    components: Components, calypso: CalypsoClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    await components.intents.attempt(
        BlockCustomer(customerId=customer.id),
        lambda: calypso.block_customer(uuid.UUID(customer.id)),
    )
    assert await _recovery(components, recover_after=60).recover() == {}
    assert await _unsettled(components) == 1


async def test_an_intent_waits_while_calypso_does_not_answer(
    components: Components, calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    await components.intents.attempt(
        BlockCustomer(customerId=customer.id),
        lambda: calypso.block_customer(uuid.UUID(customer.id)),
    )
    outage = {"failNext": 10, "failNextStatus": 503, "endpoints": ["customer.get"]}
    await sandbox_control.put("/sandbox/faults", json=outage)
    assert await _recovery(components).recover() == {}
    assert await _unsettled(components) == 1
    await sandbox_control.put("/sandbox/faults", json={})
    assert await _recovery(components).recover() == {"completed": 1}
