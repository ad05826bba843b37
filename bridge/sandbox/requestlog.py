"""Every Calypso request the sandbox counted, in the order counted, for tests that count polls.

The counters say how many calls an endpoint got; this log says which customer (or
transaction) each call was about, and when, so a test can assert "customer A was polled
twice since t while customer B was left alone". It keeps exactly what the counters count
(injected faults and refusals included, each with the status it got) and holds the last
:data:`MAX_ENTRIES`, so a long benchmark cannot exhaust memory.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from bridge.calypso import endpoints as ep

__all__ = [
    "MAX_ENTRIES",
    "RequestEntry",
    "RequestFilter",
    "RequestLog",
    "RequestLogPage",
    "RequestSubject",
    "subject_of",
]

MAX_ENTRIES = 500_000


class RequestEntry(msgspec.Struct, frozen=True, gc=False):
    """One answered request; ``at`` is its arrival in unix milliseconds (before any injected
    latency, so entries answered late may sit after younger ones)."""

    at: int
    endpoint: str
    status: int
    customerId: str | None
    transactionId: str | None


class RequestLogPage(msgspec.Struct, frozen=True):
    """Body of ``GET /sandbox/requests``."""

    items: list[RequestEntry]


@dataclass(frozen=True, slots=True)
class RequestSubject:
    """Whom a request was about, as far as its (possibly invalid) body tells."""

    customer_id: uuid.UUID | None = None
    transaction_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """Query of ``GET /sandbox/requests``: every given criterion must hold."""

    endpoint: str | None = None
    customer_id: str | None = None
    since: float | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], endpoints: Collection[str]) -> RequestFilter:
        """Raises ``ValueError`` naming the bad parameter, so typos never match nothing."""
        unknown = sorted(set(query) - {"endpoint", "customerId", "since"})
        if unknown:
            raise ValueError(f"unknown query parameters {unknown}; use endpoint, customerId, since")
        endpoint = query.get("endpoint")
        if endpoint is not None and endpoint not in endpoints:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {sorted(endpoints)}")
        customer_id = query.get("customerId")
        if customer_id is not None:
            customer_id = str(_uuid(customer_id, "customerId"))
        since = query.get("since")
        return cls(endpoint, customer_id, None if since is None else _milliseconds(since))

    def matches(self, entry: RequestEntry) -> bool:
        return (
            (self.endpoint is None or entry.endpoint == self.endpoint)
            and (self.customer_id is None or entry.customerId == self.customer_id)
            and (self.since is None or entry.at >= self.since)
        )


class RequestLog:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[RequestEntry] = deque(maxlen=max_entries)

    def record(
        self, *, at: int, endpoint: str, status: int, subject: RequestSubject
    ) -> RequestEntry:
        entry = RequestEntry(
            at=at,
            endpoint=endpoint,
            status=status,
            customerId=_text(subject.customer_id),
            transactionId=_text(subject.transaction_id),
        )
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def find(self, criteria: RequestFilter) -> list[RequestEntry]:
        return [entry for entry in self._entries if criteria.matches(entry)]

    def __len__(self) -> int:
        return len(self._entries)


class _AnyEnvelope(msgspec.Struct):
    payload: Any = None


_ENVELOPE = msgspec.json.Decoder(_AnyEnvelope)


def subject_of(body: bytes, endpoint: str) -> RequestSubject:
    """Best effort: a faulted or refused request is logged too, whatever its body holds."""
    try:
        payload = _ENVELOPE.decode(body).payload
    except msgspec.DecodeError:
        return RequestSubject()
    if not isinstance(payload, dict):
        return RequestSubject()
    # customer/update names its customer ``id``; every other endpoint says ``customerId``.
    customer_field = "id" if endpoint == ep.CUSTOMER_UPDATE.name else "customerId"
    return RequestSubject(
        customer_id=_uuid_or_none(payload.get(customer_field)),
        transaction_id=_uuid_or_none(payload.get("transactionId")),
    )


def _uuid_or_none(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a uuid, got {value!r}") from exc


def _milliseconds(value: str) -> float:
    try:
        since = float(value)
    except ValueError as exc:
        raise ValueError(f"since must be unix milliseconds, got {value!r}") from exc
    if not math.isfinite(since):
        raise ValueError(f"since must be unix milliseconds, got {value!r}")
    return since


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
