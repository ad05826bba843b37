"""Hand-built, hand-signed requests to the sandbox.

Nothing here uses the bridge's own client or signing code, so the sandbox tests check the
wire contract itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import httpx

ACCOUNT = "0x" + "5c" * 20
API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
BASE = "/api/v1/customer-purse/"
ETH_AMOUNT = "0.123456789012345678"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def envelope(payload: Any, *, account: str = ACCOUNT, timestamp: int | None = None) -> bytes:
    body = {"account": account, "timestamp": now_ms() if timestamp is None else timestamp}
    return json.dumps({**body, "payload": payload}).encode()


def signature(body: bytes, secret: str = API_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


async def send(
    client: httpx.AsyncClient,
    path: str,
    body: bytes,
    *,
    key: str | None = API_KEY,
    sign: str | None = None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Sign": sign or signature(body)}
    if key is not None:
        headers["Key"] = key
    return await client.post(BASE + path, content=body, headers=headers)


async def call(client: httpx.AsyncClient, path: str, payload: Any) -> httpx.Response:
    return await send(client, path, envelope(payload))


async def ok(client: httpx.AsyncClient, path: str, payload: Any) -> Any:
    response = await call(client, path, payload)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    # Amounts are JSON numbers with up to 18 decimals: read them as Decimal, never float.
    return json.loads(response.content, parse_float=Decimal)


def assert_calypso_error(response: httpx.Response, code: str, status: int = 400) -> str:
    """Checks Calypso's error document and returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"traceId", "errorCode", "message"}
    assert body["errorCode"] == code
    assert body["traceId"]
    assert isinstance(body["message"], str)
    return str(body["message"])


async def new_customer(client: httpx.AsyncClient, **fields: str) -> dict[str, Any]:
    customer: dict[str, Any] = await ok(client, "customer/create", fields)
    return customer


async def new_purse(client: httpx.AsyncClient, customer_id: str, currency: str) -> dict[str, Any]:
    purse: dict[str, Any] = await ok(
        client, "address/get", {"customerId": customer_id, "currency": currency}
    )
    return purse


async def deposit(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/sandbox/deposits", json=body)
    assert response.status_code == 201, response.text
    transaction: dict[str, Any] = response.json()
    return transaction


async def eth_deposit(client: httpx.AsyncClient, amount: str = ETH_AMOUNT) -> dict[str, Any]:
    customer = await new_customer(client)
    purse = await new_purse(client, customer["id"], "ETH")
    return await deposit(client, address=purse["address"], currency="ETH", amount=amount)


async def advance(client: httpx.AsyncClient, transaction_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/sandbox/transactions/{transaction_id}/advance", json=body or None)


def search(customer_id: str, **overrides: Any) -> dict[str, Any]:
    query = {
        "customerId": customer_id,
        "pageNumber": 1,
        "pageSize": 10,
        "sort": "ASC",
        "properties": "createdDate",
    }
    return {**query, **overrides}


# --- the ten endpoints ------------------------------------------------------------------------
