"""The attempt log of a subscription: every try, newest first, cursor-paged.

One capped stream per subscription, written by the delivery queue's settle step together
with the attempt's consequence. An entry keeps what a person debugging a receiver needs
(status, latency, error, the start of the response, the attempt number and when the next
one is due) and nothing that could leak a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import msgspec

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["Attempt", "AttemptLog", "AttemptPage"]


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    eventId: str
    eventType: str
    attempt: int
    outcome: str
    at: int
    latencyMs: float
    status: int | None = None
    error: str | None = None
    response: str | None = None
    nextAttemptAt: int | None = None
    test: bool = False


@dataclass(frozen=True, slots=True)
class AttemptPage:
    items: list[tuple[str, Attempt]]
    next_cursor: str | None


class AttemptLog:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def page(self, subscription_id: str, cursor: str | None, limit: int) -> AttemptPage:
        upper = "+" if cursor is None else f"({cursor}"
        raw = await self._redis.xrevrange(
            self._keys.attempts(subscription_id), upper, "-", count=limit + 1
        )
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], raw)
        items = [
            (entry_id.decode(), msgspec.json.decode(fields[b"a"], type=Attempt))
            for entry_id, fields in entries[:limit]
        ]
        more = len(entries) > limit
        return AttemptPage(items, items[-1][0] if more and items else None)
