"""The retry policy: outcomes, Retry-After, and a schedule that is never undercut."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.delivery.retry import Outcome, RetryPolicy, classify, parse_retry_after, should_retry

SHORT = RetryPolicy(schedule=(0.0, 1.0, 5.0))
DEFAULT = RetryPolicy(schedule=(0, 5, 300, 1800, 7200, 18000, 36000, 36000))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (201, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (299, Outcome.DELIVERED),
        (410, Outcome.GONE),
        (301, Outcome.FAILED),
        (302, Outcome.FAILED),
        (304, Outcome.FAILED),
        (307, Outcome.FAILED),
        (308, Outcome.FAILED),
        (100, Outcome.FAILED),
        (400, Outcome.FAILED),
        (404, Outcome.FAILED),
        (429, Outcome.FAILED),
        (500, Outcome.FAILED),
        (503, Outcome.FAILED),
    ],
)
def test_statuses_map_to_outcomes(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_timeouts_and_transport_errors_have_their_own_outcomes() -> None:
    assert classify(None, timed_out=True) is Outcome.TIMEOUT
    assert classify(None, error=True) is Outcome.ERROR
    assert classify(None) is Outcome.ERROR
    # An attempt that did not complete is not a delivery, whatever status came first.
    assert classify(200, timed_out=True) is Outcome.TIMEOUT
    assert classify(200, error=True) is Outcome.ERROR


@pytest.mark.parametrize(
    ("outcome", "retry"),
    [
        (Outcome.DELIVERED, False),
        (Outcome.GONE, False),
        (Outcome.FAILED, True),
        (Outcome.TIMEOUT, True),
        (Outcome.ERROR, True),
    ],
)
def test_only_success_and_gone_stop_the_retries(outcome: Outcome, retry: bool) -> None:
    assert should_retry(outcome) is retry


def test_rate_limits_and_server_errors_are_retried_redirects_too() -> None:
    for status in (429, 500, 502, 301, 302, 307):
        assert should_retry(classify(status))
    assert not should_retry(classify(410))


def test_outcomes_are_their_lowercase_names() -> None:
    assert [str(o) for o in Outcome] == ["delivered", "failed", "timeout", "error", "gone"]


def test_a_short_schedule_is_followed_attempt_by_attempt_then_dead_letters() -> None:
    rng = random.Random(7)
    assert SHORT.attempts == 3
    assert SHORT.first_delay == 0.0
    first_retry = SHORT.next_delay(1, retry_after=None, rng=rng)
    second_retry = SHORT.next_delay(2, retry_after=None, rng=rng)
    assert first_retry is not None
    assert 1.0 <= first_retry <= 1.1
    assert second_retry is not None
    assert 5.0 <= second_retry <= 5.5
    assert SHORT.next_delay(3, retry_after=None, rng=rng) is None
    assert SHORT.next_delay(4, retry_after=None, rng=rng) is None


def test_without_jitter_the_schedule_is_exact() -> None:
    exact = RetryPolicy(schedule=(0.0, 1.0, 5.0), jitter=0.0)
    rng = random.Random(1)
    assert [exact.next_delay(n, rng=rng) for n in (1, 2, 3)] == [1.0, 5.0, None]


def test_retry_after_lengthens_the_wait_but_never_shortens_it() -> None:
    exact = RetryPolicy(schedule=(0.0, 60.0, 600.0), jitter=0.0)
    rng = random.Random(1)
    assert exact.next_delay(1, retry_after=120.0, rng=rng) == 120.0
    assert exact.next_delay(1, retry_after=5.0, rng=rng) == 60.0
    assert exact.next_delay(1, retry_after=0.0, rng=rng) == 60.0
    assert exact.next_delay(1, retry_after=-30.0, rng=rng) == 60.0
    assert exact.next_delay(1, retry_after=float("nan"), rng=rng) == 60.0


def test_retry_after_is_capped_at_max_retry_after() -> None:
    capped = RetryPolicy(schedule=(0.0, 60.0, 7200.0), jitter=0.0, max_retry_after=3600.0)
    rng = random.Random(1)
    assert capped.next_delay(1, retry_after=86400.0, rng=rng) == 3600.0
    assert capped.next_delay(1, retry_after=float("inf"), rng=rng) == 3600.0
    # The cap limits what a receiver can ask for, not the operator's own schedule.
    assert capped.next_delay(2, retry_after=86400.0, rng=rng) == 7200.0


def test_a_retry_after_beyond_the_last_attempt_still_dead_letters() -> None:
    assert SHORT.next_delay(3, retry_after=10.0, rng=random.Random(1)) is None


def test_jitter_spreads_retries_that_failed_together() -> None:
    rng = random.Random(3)
    delays = {DEFAULT.next_delay(2, rng=rng) for _ in range(50)}
    assert len(delays) > 40


@given(
    seed=st.integers(0, 2**32),
    attempt=st.integers(1, len(DEFAULT.schedule) - 1),
    retry_after=st.none() | st.floats(min_value=-1e6, max_value=1e9, allow_nan=False),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_no_retry_comes_sooner_than_the_schedule_or_later_than_the_bounds(
    seed: int, attempt: int, retry_after: float | None, jitter: float
) -> None:
    policy = RetryPolicy(schedule=DEFAULT.schedule, jitter=jitter)
    delay = policy.next_delay(attempt, retry_after=retry_after, rng=random.Random(seed))
    assert delay is not None
    scheduled = policy.schedule[attempt]
    asked = 0.0 if retry_after is None else min(max(retry_after, 0.0), policy.max_retry_after)
    floor = max(scheduled, asked)
    assert floor <= delay <= floor * (1 + jitter)
    assert delay <= max(scheduled, policy.max_retry_after) * (1 + jitter)


@given(seed=st.integers(0, 2**32), attempt=st.integers(len(DEFAULT.schedule), 100))
def test_after_the_last_attempt_there_is_no_next(seed: int, attempt: int) -> None:
    assert DEFAULT.next_delay(attempt, retry_after=5.0, rng=random.Random(seed)) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": ()}, "at least one"),
        ({"schedule": (0.0, -1.0)}, "not negative"),
        ({"schedule": (0.0, float("inf"))}, "finite"),
        ({"schedule": (0.0,), "jitter": 1.5}, "jitter"),
        ({"schedule": (0.0,), "jitter": -0.1}, "jitter"),
        ({"schedule": (0.0,), "max_retry_after": float("nan")}, "max_retry_after"),
    ],
)
def test_impossible_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        SHORT.next_delay(0, rng=random.Random(1))


NOW = datetime(2015, 10, 21, 7, 26, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 120.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 120.0),
        ("Wed, 21 Oct 2015 09:28:00 +0200", 120.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("1.5", None),
        ("12 seconds", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@given(st.text(max_size=64))
def test_retry_after_never_raises(value: str) -> None:
    parsed = parse_retry_after(value, now=NOW)
    assert parsed is None or parsed >= 0


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
def test_an_http_date_round_trips_to_the_seconds_until_it(when: datetime) -> None:
    aware = when.replace(microsecond=0, tzinfo=UTC)
    header = format_datetime(aware, usegmt=True)
    assert parse_retry_after(header, now=NOW) == max(0.0, aware.timestamp() - NOW)
