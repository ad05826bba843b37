"""The per-endpoint circuit breaker."""

from __future__ import annotations

from bridge.delivery.circuit import Circuit


def test_opens_after_the_threshold_and_lets_one_trial_through_after_the_cooldown() -> None:
    circuit = Circuit(threshold=3, cooldown=10)
    for _ in range(2):
        circuit.record(False, now=0)
    assert circuit.allows(now=0) > 1
    circuit.record(False, now=0)
    assert circuit.allows(now=5) == 0
    assert circuit.allows(now=10) == 1
    assert circuit.allows(now=10) == 0  # only one trial at a time
    circuit.record(False, now=10)
    assert circuit.allows(now=15) == 0
    assert circuit.allows(now=20) == 1
    circuit.record(True, now=20)
    assert circuit.allows(now=20) > 1
