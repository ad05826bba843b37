"""How the next poll is spaced: hot, idle back-off, failure back-off."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bridge.poller.cadence import Cadence, after_poll, next_delay

HOT, IDLE = 2.0, 300.0


def delay(cadence: Cadence, hot: bool, seed: int = 1) -> float:
    return next_delay(
        cadence, hot=hot, hot_interval=HOT, idle_interval=IDLE, rng=random.Random(seed)
    )


def test_hot_customers_are_polled_every_hot_interval_give_or_take_5_percent() -> None:
    for seed in range(50):
        assert HOT * 0.95 <= delay(Cadence(), hot=True, seed=seed) <= HOT * 1.05


def test_idle_polls_in_a_row_double_the_wait_up_to_the_idle_interval() -> None:
    cadence = Cadence()
    waits = []
    for _ in range(12):
        cadence = after_poll(cadence, hot=False, failed=False)
        waits.append(delay(cadence, hot=False))
    assert waits[0] < waits[1] < waits[2] < waits[3]
    assert max(waits) <= IDLE
    assert waits[-1] >= IDLE * 0.9


def test_activity_resets_the_idle_streak() -> None:
    idle = Cadence(idle_streak=7)
    assert after_poll(idle, hot=True, failed=False) == Cadence(0, 0)


def test_failures_back_off_with_jitter_and_keep_the_idle_streak() -> None:
    failed = after_poll(Cadence(idle_streak=3), hot=True, failed=True)
    assert failed == Cadence(3, 1)
    twice = after_poll(failed, hot=True, failed=True)
    waits = {delay(twice, hot=True, seed=s) for s in range(20)}
    assert all(HOT * 2 <= w <= HOT * 4 for w in waits)
    assert len(waits) > 1


@given(
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=200),
    st.booleans(),
    st.integers(min_value=0, max_value=2**32),
)
def test_every_delay_is_positive_and_never_beyond_the_idle_interval(
    streak: int, failures: int, hot: bool, seed: int
) -> None:
    wait = delay(Cadence(streak, failures), hot=hot, seed=seed)
    assert 0 < wait <= IDLE * 1.05 if hot else 0 < wait <= IDLE
