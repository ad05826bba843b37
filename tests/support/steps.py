"""What a scenario does: through the bridge's API, the sandbox's controls and a worker."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.worker import Worker

__all__ = ["advance", "deposit", "new_customer_with_address", "poll_now", "subscribe"]


async def subscribe(api: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    """A subscription made through the API; the answer carries its secret, shown once."""
    answer = await api.post("/v1/subscriptions", json={"url": url, **fields})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def new_customer_with_address(
    api: httpx.AsyncClient, currency: str = "ETH"
) -> tuple[str, str]:
    customer = (await api.post("/v1/customers", json={})).json()["id"]
    purse = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": currency})
    return customer, purse.json()["address"]


async def deposit(
    control: httpx.AsyncClient, address: str, amount: str, currency: str = "ETH", **extra: Any
) -> str:
    """A deposit to ``address`` in the sandbox; its transaction id."""
    answer = await control.post(
        "/sandbox/deposits",
        json={"address": address, "currency": currency, "amount": amount, **extra},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def advance(control: httpx.AsyncClient, transaction: str, **fields: Any) -> None:
    """The sandbox moves a transaction one step on (``decline=True`` turns it down)."""
    answer = await control.post(f"/sandbox/transactions/{transaction}/advance", json=fields)
    answer.raise_for_status()


async def poll_now(worker: Worker, *customers: str) -> None:
    """Make customers due now and poll everything due (the burst mode of the runner)."""
    for customer in customers:
        await worker.schedule.poke(customer)
    await worker.drain()
