"""Reading what the webhook receiver got, and the sandbox's webhook counters."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx

from tests.sandbox.receiver import Received

WEBHOOK_SECRET = "webhook-secret"
MEM_POOL = "CUSTOMER_PURSE_MEM_POOL_FOUND"
PENDING = "CUSTOMER_PURSE_PENDING_COMPLIANCE"
FUNDS_RECEIVED = "CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE"
DECLINED = "CUSTOMER_PURSE_COMPLIANCE_DECLINED"
CREDITED = "CUSTOMER_PURSE_TRANSLATION_TO_ACCOUNT_COMPLETED"
EXPIRED = "CUSTOMER_PURSE_EXPIRED"


def parsed(received: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(received.body, parse_float=Decimal)
    return body


def event_types(received: list[Received]) -> list[str]:
    return [parsed(r)["eventType"] for r in received]


async def webhook_status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/sandbox/webhooks")
    assert response.status_code == 200
    status: dict[str, Any] = response.json()
    return status


async def wait_for_status(client: httpx.AsyncClient, **expected: int) -> dict[str, Any]:
    """Polls ``GET /sandbox/webhooks`` until its counters read ``expected``."""
    deadline = time.monotonic() + 5.0
    while True:
        status = await webhook_status(client)
        if all(status[k] == v for k, v in expected.items()):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.01)
