"""A worker is live while every loop that has beaten is due again within its period plus
the slack; an overdue loop is named."""

from __future__ import annotations

from bridge.heartbeats import Heartbeats


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_loops_that_keep_coming_round_are_live() -> None:
    clock = Clock()
    beats = Heartbeats(slack=2.0, clock=clock)
    assert beats.stalled() == []  # nothing started yet: nothing overdue
    for _ in range(10):
        beats.beat("fan_out", every=1.0)
        beats.beat("reclaim", every=5.0)
        clock.now += 1.0
    assert beats.stalled() == []


def test_a_loop_overdue_by_more_than_the_slack_is_named_oldest_first() -> None:
    clock = Clock()
    beats = Heartbeats(slack=2.0, clock=clock)
    beats.beat("settle", every=1.0)
    beats.beat("reclaim", every=5.0)
    beats.beat("fan_out", every=1.0)
    clock.now += 3.0
    assert beats.stalled() == []  # exactly at period plus slack: still live
    clock.now += 0.5
    assert beats.stalled() == ["settle", "fan_out"]
    beats.beat("settle", every=1.0)
    assert beats.stalled() == ["fan_out"]
    clock.now += 4.0
    assert beats.stalled() == ["fan_out", "settle", "reclaim"]
