"""An API process that dies between its Calypso call and its stream write loses no event.

Before each Calypso call that announces an event (a customer created, updated, blocked or
unblocked, an address issued) the API records its intent in Redis; a recovery step asks
Calypso whether the call happened and writes the event exactly once, or drops the intent.
The fault hook ``BRIDGE_FAULT_AFTER_UPSTREAM`` (honoured only with
``BRIDGE_FAULT_INJECTION=true``) ends the API process right after the named call answers,
before anything else is written: a crash at the worst moment, on purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.faults import FAULT_EXIT
from bridge.local_redis import free_port
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import TOKEN, worker_env
from tests.support.processes import BridgeProcess, bridge_processes, wait_until_listening
from tests.support.reading import stream_events
from tests.support.sandbox_server import RunningServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@dataclass(frozen=True)
class Call:
    """One API call that announces an event: the Calypso call it makes and its request."""

    upstream: str
    event: str
    request: Callable[[httpx.AsyncClient, CalypsoClient], Awaitable[tuple[str, httpx.Request]]]


async def _create(api: httpx.AsyncClient, calypso: CalypsoClient) -> tuple[str, httpx.Request]:
    request = api.build_request("POST", "/v1/customers", json={"externalId": "crash-1"})
    return "", request  # the customer id is learnt from Calypso afterwards


async def _update(api: httpx.AsyncClient, calypso: CalypsoClient) -> tuple[str, httpx.Request]:
    customer = await calypso.create_customer(models.CustomerCreate(email="old@example.com"))
    body = {"email": "new@example.com"}
    return customer.id, api.build_request("PATCH", f"/v1/customers/{customer.id}", json=body)


async def _block(api: httpx.AsyncClient, calypso: CalypsoClient) -> tuple[str, httpx.Request]:
    customer = await calypso.create_customer(models.CustomerCreate())
    return customer.id, api.build_request("POST", f"/v1/customers/{customer.id}/block")


async def _unblock(api: httpx.AsyncClient, calypso: CalypsoClient) -> tuple[str, httpx.Request]:
    customer = await calypso.create_customer(models.CustomerCreate())
    await calypso.block_customer(uuid.UUID(customer.id))
    return customer.id, api.build_request("POST", f"/v1/customers/{customer.id}/unblock")


async def _address(api: httpx.AsyncClient, calypso: CalypsoClient) -> tuple[str, httpx.Request]:
    customer = await calypso.create_customer(models.CustomerCreate())
    path = f"/v1/customers/{customer.id}/addresses"
    return customer.id, api.build_request("POST", path, json={"currency": "ETH"})


CALLS = {
    "create": Call("customer.create", "customer.created", _create),
    "update": Call("customer.update", "customer.updated", _update),
    "block": Call("customer.block", "customer.blocked", _block),
    "unblock": Call("customer.unblock", "customer.unblocked", _unblock),
    "address": Call("address.get", "deposit_address.issued", _address),
}


@contextmanager
def api_process(
    redis_url: str, sandbox_url: str, **extra: str
) -> Iterator[tuple[BridgeProcess, int]]:
    """One ``bridge api`` process that recovers intents older than a second; its port."""
    port = free_port()
    env = worker_env(
        redis_url,
        sandbox_url,
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_INTENT_RECOVER_AFTER="1s",
        **extra,
    )
    with bridge_processes("api", 1, env) as (api,):
        yield api, port


def _client(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )


async def _events(redis: RedisClient, keys: Keys, kind: str) -> list[dict[str, object]]:
    return [e for e in await stream_events(redis, keys) if e["type"] == kind]


async def _all_settled(redis: RedisClient, keys: Keys) -> bool:
    return await redis.hlen(keys.intents) == 0


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_an_api_killed_after_the_upstream_call_writes_the_event_once_after_restart(
    name: str,
    redis: RedisClient,
    redis_url: str,
    keys: Keys,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    calypso: CalypsoClient,
) -> None:
    call = CALLS[name]
    faults = {"BRIDGE_FAULT_INJECTION": "true", "BRIDGE_FAULT_AFTER_UPSTREAM": call.upstream}
    with api_process(redis_url, sandbox.url, **faults) as (api, port):
        await wait_until_listening(port)
        async with _client(port) as client:
            customer, request = await call.request(client, calypso)
            with pytest.raises(httpx.TransportError):
                await client.send(request)  # the process died before answering
        assert api.process is not None
        assert api.process.wait(timeout=10) == FAULT_EXIT, api.output()

        made = await sandbox_control.get("/sandbox/requests", params={"endpoint": call.upstream})
        assert len(made.json()["items"]) == 1  # the call did happen upstream
        assert await _events(redis, keys, call.event) == []  # and nothing announced it yet

        api.env.pop("BRIDGE_FAULT_AFTER_UPSTREAM")
        api.start()  # the same API, restarted without the fault
        await eventually(lambda: _events(redis, keys, call.event), within=20, what=call.event)
        await eventually(lambda: _all_settled(redis, keys), within=20, what="intents settled")

    (event,) = await _events(redis, keys, call.event)
    data = event["data"]
    assert isinstance(data, dict)
    if name == "create":
        (created,) = await calypso.find_customers_by_external_id("crash-1")
        customer = created.id
    assert data["customerId"] == customer
    if name == "update":
        assert data["customer"]["email"] == "new@example.com"


async def test_an_upstream_call_that_failed_is_dropped_and_announces_nothing(
    redis: RedisClient,
    redis_url: str,
    keys: Keys,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    calypso: CalypsoClient,
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    # A 500 leaves the outcome unknown to the API: only recovery can tell it did not happen.
    fail = {"failNext": 1, "failNextStatus": 500, "endpoints": ["customer.block"]}
    await sandbox_control.put("/sandbox/faults", json=fail)
    with api_process(redis_url, sandbox.url) as (_, port):
        await wait_until_listening(port)
        async with _client(port) as client:
            answer = await client.post(f"/v1/customers/{customer.id}/block")
            assert answer.status_code >= 500, answer.text
            assert await redis.hlen(keys.intents) == 1  # kept: the outcome is unknown
            await eventually(lambda: _all_settled(redis, keys), within=20, what="the drop")
    assert not (await calypso.get_customer(uuid.UUID(customer.id))).blocked
    assert await _events(redis, keys, "customer.blocked") == []
