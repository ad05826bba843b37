"""How long until a customer's next poll (pure; unit-tested in isolation).

Hot customers (open transactions, or an address issued recently) are polled every hot
interval. Each idle poll in a row doubles the wait, up to the idle interval, so a quiet
customer costs a few calls an hour. A failed poll backs off the same way with more jitter,
so replicas that failed together do not retry together.
"""

from __future__ import annotations

import random

import msgspec

__all__ = ["Cadence", "after_poll", "next_delay"]


class Cadence(msgspec.Struct, frozen=True):
    """What the next due time of a customer depends on, kept between polls."""

    idle_streak: int = 0
    failures: int = 0


def after_poll(previous: Cadence, *, hot: bool, failed: bool) -> Cadence:
    if failed:
        return Cadence(previous.idle_streak, previous.failures + 1)
    return Cadence(0 if hot else previous.idle_streak + 1, 0)


def next_delay(
    cadence: Cadence,
    *,
    hot: bool,
    hot_interval: float,
    idle_interval: float,
    rng: random.Random,
) -> float:
    """Seconds until the next poll; ``cadence`` is the state after this poll."""
    if cadence.failures:
        backoff = min(idle_interval, hot_interval * 2.0 ** min(cadence.failures, 30))
        return backoff * rng.uniform(0.5, 1.0)
    if hot:
        return hot_interval * rng.uniform(0.95, 1.05)
    stretched = min(idle_interval, hot_interval * 2.0 ** min(cadence.idle_streak, 30))
    return min(idle_interval, stretched * rng.uniform(0.9, 1.1))
