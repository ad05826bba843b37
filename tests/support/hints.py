"""Calypso's own webhooks, as the sandbox or Calypso would send them to the bridge."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bridge.calypso.signing import sign
from tests.support.config import INBOUND_SECRET

__all__ = ["hint", "send_hint", "send_signed_hint"]


def hint(customer: str, event_type: str = "CUSTOMER_PURSE_MEM_POOL_FOUND", **data: Any) -> bytes:
    """The body of one Calypso webhook about ``customer`` (``webhook_id`` sets its id)."""
    return json.dumps(
        {
            "requestId": "3b0c0a56-8a0a-4d43-a6f5-0a8b2a8b0c11",
            "id": data.pop("webhook_id", 101),
            "createdDate": "2026-11-26T17:40:01.123",
            "level": "INFO",
            "service": "CUSTOMER_PURSE",
            "eventType": event_type,
            "data": {"customerId": customer, "customerBlocked": False, **data},
        }
    ).encode()


async def send_hint(api: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    """POST a hint to the bridge with ``signature`` in its ``Sign`` header (None: none)."""
    headers = {"Content-Type": "application/json", "Key": "calypso-key"}
    if signature is not None:
        headers["Sign"] = signature
    return await api.post("/v1/calypso/webhooks", content=body, headers=headers)


async def send_signed_hint(api: httpx.AsyncClient, body: bytes) -> httpx.Response:
    """POST a hint signed with the secret the scenarios configure."""
    return await send_hint(api, body, sign(body, INBOUND_SECRET))
