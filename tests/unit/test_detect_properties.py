"""The transition detector against a reference model of DESIGN §4, on generated histories.

The model below is written from the design's words, not from ``detect``: one event per
observed change, the state's event when a transaction is first seen in or moves to a state,
``compliance_updated`` when only ``complianceState`` changed, ``credited`` once when
``translationToAccountCompleted`` first becomes true, after any state event of the same
observation. Histories are realistic (states only move forward, with skips and repeats, and
crediting only once confirmed) or fully arbitrary (anything, in any order, flapping).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.calypso.models import ComplianceState, Transaction, TransactionState
from bridge.events.detect import detect
from bridge.events.model import EventType, Snapshot

S = TransactionState
E = EventType

# DESIGN §4, first table row: transaction.<state in lower case>.
STATE_EVENT = {state: EventType(f"transaction.{state.value.lower()}") for state in S}


@dataclass(frozen=True)
class Observation:
    """What one poll read of the transaction."""

    state: TransactionState
    compliance: ComplianceState
    credited: bool

    def as_transaction(self) -> Transaction:
        return Transaction(
            id="0f3a9c2e-7b1d-4e55-8a61-2c9d4b7e1f00",
            amount=Decimal("0.123456789012345678"),
            addressFrom="0xabc",
            currency="ETH",
            transactionState=self.state,
            complianceState=self.compliance,
            translationToAccountCompleted=self.credited,
            createdDate="2026-11-26T17:40:01.123Z",
        )


def expected_events(history: list[Observation]) -> list[list[EventType]]:
    """The events each observation must produce, by DESIGN §4's rules."""
    produced: list[list[EventType]] = []
    credited_before = False
    for index, seen in enumerate(history):
        events: list[EventType] = []
        last = history[index - 1] if index else None
        if last is None or seen.state != last.state:
            events.append(STATE_EVENT[seen.state])
        elif seen.compliance != last.compliance:
            events.append(E.TRANSACTION_COMPLIANCE_UPDATED)
        if seen.credited and not credited_before:
            events.append(E.TRANSACTION_CREDITED)
        credited_before = credited_before or seen.credited
        produced.append(events)
    return produced


def run_detector(history: list[Observation]) -> list[tuple[tuple[EventType, ...], Snapshot]]:
    """Feed the observations one by one, each against the snapshot the last one left."""
    results = []
    snapshot: Snapshot | None = None
    for seen in history:
        detection = detect(snapshot, seen.as_transaction())
        results.append((detection.events, detection.snapshot))
        snapshot = detection.snapshot
    return results


compliance_states = st.sampled_from(list(ComplianceState))


@st.composite
def realistic_histories(draw: st.DrawFn) -> list[Observation]:
    """MEM_POOL_FOUND → PENDING_COMPLIANCE_CHECK → CONFIRMED | DECLINED, with any of them
    skipped or seen many times, compliance moving freely, and credited (for good) at some
    point after the transaction is confirmed, or never."""
    final = draw(st.sampled_from([S.CONFIRMED, S.DECLINED]))
    path = [S.MEM_POOL_FOUND, S.PENDING_COMPLIANCE_CHECK, final]
    steps = sorted(draw(st.lists(st.integers(0, 2), min_size=1, max_size=12)))
    credit_from = draw(st.integers(0, len(steps)))
    history: list[Observation] = []
    for index, step in enumerate(steps):
        repeat = draw(st.booleans())
        if history and repeat:
            # The same answer again: what most polls of a quiet transaction read.
            history.append(history[-1])
            continue
        state = path[step]
        credited = state is S.CONFIRMED and index >= credit_from
        history.append(Observation(state, draw(compliance_states), credited))
    return history


arbitrary_histories = st.lists(
    st.builds(Observation, st.sampled_from(list(S)), compliance_states, st.booleans()),
    min_size=1,
    max_size=15,
)
histories = realistic_histories() | arbitrary_histories


@settings(max_examples=300)
@given(histories)
def test_each_observation_yields_exactly_the_events_the_design_names(
    history: list[Observation],
) -> None:
    actual = [list(events) for events, _ in run_detector(history)]
    assert actual == expected_events(history)


@settings(max_examples=300)
@given(histories)
def test_sequences_count_every_event_so_far_contiguously_from_one(
    history: list[Observation],
) -> None:
    numbered: list[int] = []
    previous = 0
    for events, snapshot in run_detector(history):
        # The events of one observation take the numbers after the last snapshot's.
        numbered.extend(range(previous + 1, previous + 1 + len(events)))
        assert snapshot.sequence == previous + len(events)
        previous = snapshot.sequence
    assert numbered == list(range(1, len(numbered) + 1))


@settings(max_examples=300)
@given(histories)
def test_the_snapshot_remembers_the_last_answer_and_that_it_was_ever_credited(
    history: list[Observation],
) -> None:
    for index, (_, snapshot) in enumerate(run_detector(history)):
        seen = history[index]
        assert (snapshot.state, snapshot.compliance) == (seen.state, seen.compliance)
        assert snapshot.credited == any(o.credited for o in history[: index + 1])


@settings(max_examples=300)
@given(histories)
def test_an_unchanged_answer_yields_nothing_and_keeps_the_snapshot(
    history: list[Observation],
) -> None:
    results = run_detector(history)
    for index in range(1, len(history)):
        last, seen = history[index - 1], history[index]
        credited_before = any(o.credited for o in history[:index])
        unchanged = (seen.state, seen.compliance) == (last.state, last.compliance) and (
            credited_before or not seen.credited
        )
        if unchanged:
            assert results[index][0] == ()
            assert results[index][1] == results[index - 1][1]


@settings(max_examples=300)
@given(histories)
def test_credited_comes_once_at_most_and_last_in_its_observation(
    history: list[Observation],
) -> None:
    results = run_detector(history)
    credited = [events for events, _ in results if E.TRANSACTION_CREDITED in events]
    assert len(credited) == (1 if any(o.credited for o in history) else 0)
    for events in credited:
        assert events[-1] is E.TRANSACTION_CREDITED
        assert events.count(E.TRANSACTION_CREDITED) == 1


@settings(max_examples=300)
@given(histories)
def test_no_state_is_invented(history: list[Observation]) -> None:
    emitted = {event for events, _ in run_detector(history) for event in events}
    state_events = emitted & set(STATE_EVENT.values())
    assert state_events <= {STATE_EVENT[o.state] for o in history}


@settings(max_examples=200)
@given(realistic_histories())
def test_a_forward_moving_transaction_announces_each_state_it_was_seen_in_once(
    history: list[Observation],
) -> None:
    emitted = [event for events, _ in run_detector(history) for event in events]
    seen_states = list(dict.fromkeys(o.state for o in history))
    assert [e for e in emitted if e in STATE_EVENT.values()] == [
        STATE_EVENT[s] for s in seen_states
    ]
