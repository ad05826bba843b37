"""Reading what the webhook receiver got, and the sandbox's webhook counters."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from tests.support.receiver import Arrival
from tests.support.waiting import eventually

WEBHOOK_SECRET = "webhook-secret"
HOOK_PATH = "/v1/calypso/webhooks"  # where on the receiver the sandbox sends
MEM_POOL = "CUSTOMER_PURSE_MEM_POOL_FOUND"
PENDING = "CUSTOMER_PURSE_PENDING_COMPLIANCE"
FUNDS_RECEIVED = "CUSTOMER_PURSE_FUNDS_RECEIVED_FOR_PURSE"
DECLINED = "CUSTOMER_PURSE_COMPLIANCE_DECLINED"
CREDITED = "CUSTOMER_PURSE_TRANSLATION_TO_ACCOUNT_COMPLETED"
EXPIRED = "CUSTOMER_PURSE_EXPIRED"


def parsed(received: Arrival) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(received.body, parse_float=Decimal)
    return body


def event_types(received: list[Arrival]) -> list[str]:
    return [parsed(r)["eventType"] for r in received]


async def webhook_status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/sandbox/webhooks")
    assert response.status_code == 200
    status: dict[str, Any] = response.json()
    return status


async def wait_for_status(client: httpx.AsyncClient, **expected: int) -> dict[str, Any]:
    """Polls ``GET /sandbox/webhooks`` until its counters read ``expected``."""

    async def reached() -> dict[str, Any]:
        status = await webhook_status(client)
        return status if all(status[k] == v for k, v in expected.items()) else {}

    return await eventually(reached, within=5.0, what=f"webhook counters {expected}")
