"""The audit trail: every change a caller made to a subscription, newest first.

One capped stream per account (``Keys.audit``). An entry names the token (never the token
itself), the action, the subscription and the request; no URL, secret or body, so the trail
can be shown to any admin. Written after the change succeeded: a process that dies between
the two loses that one entry, which is the price of not wrapping every store in one script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, Literal, cast

import msgspec

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["AUDIT_MAX_LENGTH", "Action", "AuditEntry", "AuditPage", "AuditTrail"]

# About a year of a busy team's changes; XADD trims approximately, so Redis does it cheaply.
AUDIT_MAX_LENGTH: Final = 100_000

Action = Literal["create", "update", "delete", "rotate", "replay", "redeliver", "test"]


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    action: Action
    token: str
    at: int  # unix ms
    subscriptionId: str | None = None  # None: a redelivery to every subscription that wants it
    eventId: str | None = None
    queued: int | None = None
    requestId: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[tuple[str, AuditEntry]]
    next_cursor: str | None


class AuditTrail:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def record(
        self,
        action: Action,
        token: str,
        subscription_id: str | None,
        *,
        event_id: str | None = None,
        queued: int | None = None,
        request_id: str | None = None,
    ) -> None:
        entry = AuditEntry(
            action=action,
            token=token,
            at=int(time.time() * 1000),
            subscriptionId=subscription_id,
            eventId=event_id,
            queued=queued,
            requestId=request_id,
        )
        await self._redis.xadd(
            self._keys.audit,
            {"a": msgspec.json.encode(entry)},
            maxlen=AUDIT_MAX_LENGTH,
            approximate=True,
        )

    async def page(self, cursor: str | None, limit: int) -> AuditPage:
        """Entries older than ``cursor`` (an entry id), newest first."""
        upper = "+" if cursor is None else f"({cursor}"
        raw = await self._redis.xrevrange(self._keys.audit, upper, "-", count=limit + 1)
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], raw)
        items = [
            (entry_id.decode(), msgspec.json.decode(fields[b"a"], type=AuditEntry))
            for entry_id, fields in entries[:limit]
        ]
        more = len(entries) > limit
        return AuditPage(items, items[-1][0] if more and items else None)
