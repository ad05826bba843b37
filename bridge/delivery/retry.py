"""When a failed delivery is tried again: the retry policy as data and pure functions.

The schedule is configuration (``BRIDGE_WEBHOOK_RETRY_SCHEDULE``, in the spirit of Svix:
immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). Jitter only ever lengthens a wait,
so no retry, whatever its outcome, comes sooner than the schedule promises; a receiver's
``Retry-After`` can lengthen it further, up to ``max_retry_after``. Transport errors and
timeouts are retried like any failure (Svix's Python client does not; we do not copy that).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import StrEnum

__all__ = ["Outcome", "RetryPolicy", "classify", "parse_retry_after", "should_retry"]

_DELTA_SECONDS = re.compile(r"-?[0-9]{1,300}")


class Outcome(StrEnum):
    """How one delivery attempt ended, in the words the attempt log uses."""

    DELIVERED = "delivered"  # 2xx
    FAILED = "failed"  # any other status, redirects included (they are not followed)
    TIMEOUT = "timeout"  # no complete answer within the timeout
    ERROR = "error"  # connection or transport failure, or refused by the SSRF policy
    GONE = "gone"  # 410: the receiver asks us to stop; the subscription is disabled


def classify(status: int | None, *, timed_out: bool = False, error: bool = False) -> Outcome:
    """The outcome of an attempt from its HTTP status, or from how it failed.

    ``timed_out`` and ``error`` win over a status: the attempt did not complete, so the
    receiver may not have processed it. Without a status and without a flag nothing was
    received, which is an error too.
    """
    if timed_out:
        return Outcome.TIMEOUT
    if error or status is None:
        return Outcome.ERROR
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.GONE
    return Outcome.FAILED


def should_retry(outcome: Outcome) -> bool:
    """Whether another attempt may follow: not after success, nor after 410 Gone."""
    return outcome not in (Outcome.DELIVERED, Outcome.GONE)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    A past date or a negative number means "now" (0); anything unparseable is None, so a
    receiver's garbage falls back to the schedule instead of failing the delivery.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return max(0.0, float(int(text)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # "-0000" gives a naive datetime; HTTP-dates are always GMT, never local time.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """A delivery schedule: attempt ``n`` (1-based) is due ``schedule[n-1]`` seconds after
    the previous attempt failed; ``schedule[0]`` (usually 0) delays the first attempt after
    the event. After ``attempts`` failures the delivery is dead-lettered."""

    schedule: tuple[float, ...]
    jitter: float = 0.1
    max_retry_after: float = 3600.0

    def __post_init__(self) -> None:
        if not self.schedule:
            raise ValueError("the retry schedule needs at least one delay")
        if not all(math.isfinite(d) and d >= 0 for d in self.schedule):
            raise ValueError("retry delays must be finite and not negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if not (math.isfinite(self.max_retry_after) and self.max_retry_after >= 0):
            raise ValueError("max_retry_after must be finite and not negative")

    @property
    def attempts(self) -> int:
        return len(self.schedule)

    @property
    def first_delay(self) -> float:
        return self.schedule[0]

    def next_delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random
    ) -> float | None:
        """Seconds until the next attempt after attempt ``attempt`` failed; None if none is
        left (dead-letter).

        The wait is the scheduled delay, or the receiver's ``retry_after`` capped at
        ``max_retry_after`` when that is longer, stretched by up to ``jitter`` so that many
        deliveries failing together do not return together. Jitter is upward only, so a
        timeout or a 429 is never retried sooner than the schedule says.
        """
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        if attempt >= len(self.schedule):
            return None
        wait = self.schedule[attempt]
        if retry_after is not None and not math.isnan(retry_after):
            wait = max(wait, min(max(retry_after, 0.0), self.max_retry_after))
        return wait * rng.uniform(1.0, 1.0 + self.jitter)
