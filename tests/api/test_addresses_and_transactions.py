"""Addresses, purses, transactions and the watch switch through the API."""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Any]


async def new_customer(api: Client) -> str:
    return str((await api.post("/v1/customers", json={})).json()["id"])


async def test_issue_btc_and_eth_addresses_and_list_purses(api: Client) -> None:
    customer = await new_customer(api)
    btc = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "BTC"})
    eth = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "ETH"})
    assert (btc.status_code, eth.status_code) == (200, 200)
    assert btc.json()["address"].startswith("bc1q")
    assert eth.json()["address"].startswith("0x")
    assert btc.json()["customerId"] == customer
    again = await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "USDT_ERC20"})
    assert again.json()["id"] == eth.json()["id"]

    purses = (await api.get(f"/v1/customers/{customer}/purses")).json()["items"]
    assert {p["id"] for p in purses} == {btc.json()["id"], eth.json()["id"]}


async def test_transactions_keep_18_decimals_as_a_string(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    customer = await new_customer(api)
    purse = (await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "ETH"})).json()
    made = await sandbox_control.post(
        "/sandbox/deposits",
        json={"address": purse["address"], "currency": "ETH", "amount": "0.123456789012345678"},
    )
    listed = await api.get(f"/v1/customers/{customer}/transactions")
    assert listed.status_code == 200
    assert '"amount":"0.123456789012345678"' in listed.text
    page = listed.json()
    assert (page["page"], page["pageSize"], page["totalPages"], page["totalItems"]) == (1, 20, 1, 1)
    one = await api.get(f"/v1/transactions/{made.json()['id']}")
    assert one.json()["amount"] == "0.123456789012345678"
    assert one.json()["transactionState"] == "MEM_POOL_FOUND"


async def test_transactions_filter_page_and_order(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    customer = await new_customer(api)
    btc = (await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "BTC"})).json()
    ids = []
    for amount in ("0.1", "0.2", "0.3"):
        made = await sandbox_control.post(
            "/sandbox/deposits",
            json={"address": btc["address"], "currency": "BTC", "amount": amount},
        )
        ids.append(made.json()["id"])
    await sandbox_control.post(f"/sandbox/transactions/{ids[0]}/advance")

    newest_first = (await api.get(f"/v1/customers/{customer}/transactions")).json()["items"]
    assert [t["id"] for t in newest_first] == ids[::-1]
    oldest_first = await api.get(
        f"/v1/customers/{customer}/transactions", params={"order": "asc", "pageSize": 2}
    )
    assert [t["id"] for t in oldest_first.json()["items"]] == ids[:2]
    assert oldest_first.json()["totalPages"] == 2
    second_page = await api.get(
        f"/v1/customers/{customer}/transactions",
        params={"order": "asc", "pageSize": 2, "page": 2},
    )
    assert [t["id"] for t in second_page.json()["items"]] == ids[2:]
    pending = await api.get(
        f"/v1/customers/{customer}/transactions", params={"state": "PENDING_COMPLIANCE_CHECK"}
    )
    assert [t["id"] for t in pending.json()["items"]] == ids[:1]
    eth_only = await api.get(f"/v1/customers/{customer}/transactions", params={"currency": "ETH"})
    assert eth_only.json()["items"] == []


async def test_watch_put_get_delete(api: Client) -> None:
    customer = await new_customer(api)
    path = f"/v1/customers/{customer}/watch"
    assert (await api.delete(path)).json() == {
        "customerId": customer,
        "watched": False,
        "since": None,
        "reason": None,
    }
    assert (await api.get(path)).json()["watched"] is False
    watched = await api.put(path)
    assert watched.status_code == 200
    assert (watched.json()["watched"], watched.json()["reason"]) == (True, "api")
    assert (await api.put(path)).json()["since"] == watched.json()["since"]


async def test_watching_an_unknown_customer_is_a_404(api: Client) -> None:
    answer = await api.put("/v1/customers/0b7d9a52-2c7e-4b55-8f0e-5d7bbf1b9f10/watch")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


async def test_issuing_an_address_watches_a_customer_created_elsewhere(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    customer = await new_customer(api)
    await api.delete(f"/v1/customers/{customer}/watch")
    await api.post(f"/v1/customers/{customer}/addresses", json={"currency": "TRX"})
    status = (await api.get(f"/v1/customers/{customer}/watch")).json()
    assert (status["watched"], status["reason"]) == (True, "address")
