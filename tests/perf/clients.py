"""Small clients the figures drive the stack with: the bridge API, the sink, synthetic events."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis

from bridge.events.model import Event, EventType, event_id, rfc3339_now
from bridge.events.payloads import CustomerData
from bridge.events.stream import EventLog
from bridge.store.keys import Keys
from bridge.views import CustomerView
from tests.perf.stack import ACCOUNT, TOKEN

__all__ = ["BridgeApi", "SinkClient", "append_events", "redis_commands", "synthetic_events"]

_encoder = msgspec.json.Encoder()


class BridgeApi:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def subscribe(self, url: str, event_types: Sequence[str] | None = None) -> str:
        body: dict[str, Any] = {"url": url}
        if event_types:
            body["eventTypes"] = list(event_types)
        answer = await self.http.post("/v1/subscriptions", json=body)
        answer.raise_for_status()
        return str(answer.json()["id"])

    async def create_customer(self, external_id: str) -> str:
        answer = await self.http.post("/v1/customers", json={"externalId": external_id})
        answer.raise_for_status()
        return str(answer.json()["id"])

    async def issue_address(self, customer_id: str, currency: str) -> str:
        answer = await self.http.post(
            f"/v1/customers/{customer_id}/addresses", json={"currency": currency}
        )
        answer.raise_for_status()
        return str(answer.json()["address"])


class SinkClient:
    def __init__(self, base_url: str) -> None:
        self.url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30.0)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def reset(self, keep_bodies: Sequence[str] = ()) -> None:
        answer = await self.http.post("/_reset", params={"keep": ",".join(keep_bodies)})
        answer.raise_for_status()

    async def stats(self) -> dict[str, dict[str, Any]]:
        answer = await self.http.get("/_stats")
        answer.raise_for_status()
        paths: dict[str, dict[str, Any]] = answer.json()["paths"]
        return paths

    async def records(self, path: str, *, bodies: bool = False) -> list[list[Any]]:
        params = {"path": path, "bodies": "1" if bodies else ""}
        answer = await self.http.get("/_records", params=params)
        answer.raise_for_status()
        items: list[list[Any]] = answer.json()["items"]
        return items

    async def wait_distinct(
        self, paths: Sequence[str], each: int, within: float
    ) -> dict[str, dict[str, Any]]:
        """Wait until every path has ``each`` distinct webhook ids; the stats then."""
        deadline = time.monotonic() + within
        while True:
            stats = await self.stats()
            if all(stats.get(p, {}).get("distinct", 0) >= each for p in paths):
                return stats
            if time.monotonic() > deadline:
                got = {p: stats.get(p, {}).get("distinct", 0) for p in paths}
                raise TimeoutError(f"sink got {got} distinct webhooks, expected {each} each")
            await asyncio.sleep(0.2)


def synthetic_events(count: int, *, start: int = 0, run: str | None = None) -> list[Event]:
    """``customer.updated`` events of about 300 bytes of JSON each (the size the published
    figures were measured with); ids are unique per ``run`` (a fresh one unless given) and
    ``start + n``."""
    run = run or secrets.token_hex(4)
    customer = str(uuid.uuid5(uuid.NAMESPACE_OID, run))
    created = rfc3339_now()
    return [
        Event(
            id=event_id(ACCOUNT, "bench", run, str(n)),
            type=EventType.CUSTOMER_UPDATED,
            createdAt=created,
            account=ACCOUNT,
            data=CustomerData(customer, CustomerView(customer, blocked=False)),
        )
        for n in range(start, start + count)
    ]


def event_body(event: Event) -> bytes:
    """The bytes the bridge sends for an event (the envelope as the stream stores it)."""
    return _encoder.encode(event)


async def redis_commands(redis: Redis) -> dict[str, int]:
    """Calls per Redis command so far (commands run inside scripts included)."""
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def append_events(redis: Redis, events: Sequence[Event], batch: int = 500) -> None:
    """Append straight to the stream, in batches, as the poller's atomic step would."""
    log = EventLog(redis, Keys("bridge", ACCOUNT), retention=7 * 86400.0)
    for start in range(0, len(events), batch):
        await log.append(events[start : start + batch])
