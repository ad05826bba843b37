"""Many customers with a deposit each, driven through their lifecycle while workers poll.

A transaction is advanced only after the bridge has reported its current state, so every
transition must be observed: at the end each transaction has exactly four events
(mem_pool_found, pending_compliance_check, confirmed, credited) unless something was lost
or duplicated.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import msgspec

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient
from tests.support.reading import Entries
from tests.support.waiting import eventually

LIFECYCLE = [
    "transaction.mem_pool_found",
    "transaction.pending_compliance_check",
    "transaction.confirmed",
    "transaction.credited",
]


@dataclass
class Fleet:
    stream: str
    transactions: dict[str, str] = field(default_factory=dict)  # transaction → customer
    events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    ids: list[str] = field(default_factory=list)
    repeats: int = 0  # entries whose event id was already read (a lost write re-emitted)
    _cursor: str = "0-0"
    _advanced: dict[str, int] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    async def read(self, redis: RedisClient) -> None:
        while True:
            # XREAD on one stream: [(stream, [(entry id, fields), ...])]
            answer = await redis.xread({self.stream: self._cursor}, count=5000)
            if not answer:
                return
            entries = cast(list[tuple[bytes, Entries]], answer)[0][1]
            for entry_id, fields in entries:
                self._cursor = entry_id.decode()
                event = msgspec.json.decode(fields[b"event"])
                if event["id"] in self._seen:
                    self.repeats += 1
                    continue
                self._seen.add(event["id"])
                self.ids.append(event["id"])
                if event["type"].startswith("transaction."):
                    self.events[event["data"]["transaction"]["id"]].append(event)

    def done(self) -> bool:
        return all(len(self.events[tx]) >= len(LIFECYCLE) for tx in self.transactions)

    async def advance_observed(self, control: httpx.AsyncClient) -> int:
        """Advance every transaction whose latest state the bridge has reported."""
        moves: list[str] = []
        for tx in self.transactions:
            seen = len(self.events[tx])
            if 0 < seen < len(LIFECYCLE) and self._advanced.get(tx) != seen:
                self._advanced[tx] = seen
                moves.append(tx)
        # Requests are made chunk by chunk, so a failure leaves no request made but unsent.
        for chunk in range(0, len(moves), 50):
            answers = await asyncio.gather(
                *(
                    control.post(f"/sandbox/transactions/{tx}/advance")
                    for tx in moves[chunk : chunk + 50]
                )
            )
            for answer in answers:
                assert answer.status_code == 200, answer.text
        return len(moves)

    async def step(self, redis: RedisClient, control: httpx.AsyncClient) -> bool:
        """Read what the bridge reported, advance what it saw; whether every one is done."""
        await self.read(redis)
        if self.done():
            return True
        await self.advance_observed(control)
        return False

    async def drive(
        self,
        redis: RedisClient,
        control: httpx.AsyncClient,
        within: float,
        until: Callable[[], Awaitable[bool]] | None = None,
        tick: float = 0.2,
    ) -> None:
        """Step the fleet until every transaction is done (or ``until`` holds)."""

        async def finished() -> bool:
            done = await self.step(redis, control)
            return await until() if until is not None else done

        try:
            await eventually(finished, within=within, interval=tick)
        except AssertionError:
            missing = {
                tx: len(self.events[tx]) for tx in self.transactions if not self.events[tx][3:]
            }
            raise AssertionError(
                f"{len(missing)} transactions not finished: {list(missing.items())[:5]}"
            ) from None


async def make_fleet(
    size: int,
    calypso: CalypsoClient,
    watchlist: WatchList,
    control: httpx.AsyncClient,
    stream: str,
) -> Fleet:
    fleet = Fleet(stream)

    async def one(n: int) -> None:
        customer = await calypso.create_customer(models.CustomerCreate(externalId=f"fleet-{n}"))
        purse = await calypso.get_purse_address(uuid.UUID(customer.id), "ETH")
        await watchlist.watch(customer.id, "test")
        made = await control.post(
            "/sandbox/deposits",
            json={"address": purse.address, "currency": "ETH", "amount": f"0.{n + 1:018d}"},
        )
        assert made.status_code == 201, made.text
        fleet.transactions[made.json()["id"]] = customer.id

    for start in range(0, size, 50):
        await asyncio.gather(*(one(n) for n in range(start, min(size, start + 50))))
    return fleet


def assert_exactly_once(fleet: Fleet) -> None:
    assert fleet.repeats == 0, "an event id appears twice in the stream"
    assert len(fleet.ids) == len(set(fleet.ids))
    for tx, events in fleet.events.items():
        assert [e["type"] for e in events] == LIFECYCLE, (tx, [e["type"] for e in events])
        assert [e["data"]["sequence"] for e in events] == [1, 2, 3, 4]
        previous_states = [
            e["data"]["previous"] and e["data"]["previous"]["transactionState"] for e in events
        ]
        assert previous_states == [None, "MEM_POOL_FOUND", "PENDING_COMPLIANCE_CHECK", "CONFIRMED"]
