"""What both clients do around a request: headers, retries, problems, decoding.

Kept free of I/O so the sync and async clients differ only in how they wait and send.
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx
import msgspec

from bridge.client.calls import Request, Route
from bridge.client.problems import BridgeProblem, problem_from

__all__ = ["RetryPolicy", "Sending"]

T = TypeVar("T")

# 409s that clear by themselves: another request with the same key (or externalId) is
# still running, and its answer is what a retry gets.
_IN_FLIGHT = frozenset({"idempotency_in_flight", "external_id_in_flight"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries on 503 and 409-in-flight: ``Retry-After`` when given, capped at ``max_delay``."""

    attempts: int = 4
    default_delay: float = 0.5
    max_delay: float = 10.0


class _Code(msgspec.Struct):
    code: str = ""


@dataclass(frozen=True, slots=True)
class Sending:
    """One call being sent: the httpx request arguments, fixed across retries."""

    method: str
    url: str
    params: list[tuple[str, str | int | float | bool | None]]
    headers: dict[str, str]
    content: bytes | None

    @classmethod
    def of(cls, route: Route, request: Request[T]) -> Sending:
        headers = dict(request.headers)
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
        if request.creates:
            # One key per call, not per attempt: a retry must be recognised as the same.
            headers["Idempotency-Key"] = request.idempotency_key or str(uuid.uuid4())
        url = route.url(request.path)
        return cls(route.method, url, _params(request.query), headers, request.body)


def _params(query: Mapping[str, object]) -> list[tuple[str, str | int | float | bool | None]]:
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in query.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((name, str(item)) for item in value)
        else:
            pairs.append((name, str(value)))
    return pairs


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def delay_before_retry(response: httpx.Response, attempt: int, policy: RetryPolicy) -> float | None:
    """How long to wait before trying again, or None when this answer is final."""
    if attempt + 1 >= policy.attempts:
        return None
    if response.status_code == 409:
        try:
            code = msgspec.json.decode(response.content, type=_Code).code
        except msgspec.DecodeError:
            return None
        if code not in _IN_FLIGHT:
            return None
    elif response.status_code != 503:
        return None
    given = retry_after(response)
    return min(policy.max_delay, given if given is not None else policy.default_delay)


def outcome(response: httpx.Response, request: Request[T]) -> T:
    """The decoded answer, or the problem it reports raised."""
    if response.status_code >= 400:
        raise problem_from(response.status_code, response.content, retry_after(response))
    try:
        return request.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError) as exc:
        raise BridgeProblem(
            response.status_code, "unexpected_answer", "The answer did not decode", str(exc)
        ) from exc
