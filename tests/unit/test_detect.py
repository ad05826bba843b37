"""The transition detector, one observation at a time (DESIGN §4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.calypso.models import ComplianceState as C
from bridge.calypso.models import Transaction
from bridge.calypso.models import TransactionState as S
from bridge.events.detect import detect
from bridge.events.model import EventType as E
from bridge.events.model import Snapshot, event_id


def tx(state: S, compliance: C, credited: bool = False) -> Transaction:
    return Transaction(
        id="6a1f0c7e-52b2-4c1c-9f43-1f1f5f0f7d2a",
        amount=Decimal("0.123456789012345678"),
        addressFrom="0xabc",
        currency="ETH",
        transactionState=state,
        complianceState=compliance,
        translationToAccountCompleted=credited,
        createdDate="2026-11-26T17:40:01.123Z",
    )


def test_first_sight_emits_the_state_it_is_in() -> None:
    result = detect(None, tx(S.MEM_POOL_FOUND, C.UNCHECKED))
    assert result.events == (E.TRANSACTION_MEM_POOL_FOUND,)
    assert result.snapshot == Snapshot(S.MEM_POOL_FOUND, C.UNCHECKED, False, 1)


def test_first_sight_of_a_later_state_does_not_invent_the_earlier_ones() -> None:
    result = detect(None, tx(S.CONFIRMED, C.CHECKED, credited=True))
    assert result.events == (E.TRANSACTION_CONFIRMED, E.TRANSACTION_CREDITED)
    assert result.snapshot.sequence == 2


def test_a_state_change_emits_that_state_once() -> None:
    before = Snapshot(S.MEM_POOL_FOUND, C.UNCHECKED, False, 1)
    result = detect(before, tx(S.PENDING_COMPLIANCE_CHECK, C.IN_PROGRESS))
    assert result.events == (E.TRANSACTION_PENDING_COMPLIANCE_CHECK,)
    assert result.snapshot == Snapshot(S.PENDING_COMPLIANCE_CHECK, C.IN_PROGRESS, False, 2)


def test_compliance_change_without_state_change_is_compliance_updated() -> None:
    before = Snapshot(S.PENDING_COMPLIANCE_CHECK, C.UNCHECKED, False, 2)
    result = detect(before, tx(S.PENDING_COMPLIANCE_CHECK, C.IN_PROGRESS))
    assert result.events == (E.TRANSACTION_COMPLIANCE_UPDATED,)


def test_credit_comes_after_the_state_event_of_the_same_observation() -> None:
    before = Snapshot(S.PENDING_COMPLIANCE_CHECK, C.IN_PROGRESS, False, 2)
    result = detect(before, tx(S.CONFIRMED, C.CHECKED, credited=True))
    assert result.events == (E.TRANSACTION_CONFIRMED, E.TRANSACTION_CREDITED)
    assert result.snapshot.sequence == 4


def test_nothing_changed_means_no_event_and_the_same_snapshot() -> None:
    before = Snapshot(S.CONFIRMED, C.CHECKED, True, 4)
    result = detect(before, tx(S.CONFIRMED, C.CHECKED, credited=True))
    assert result.events == ()
    assert result.snapshot == before


def test_a_credited_transaction_is_never_credited_twice() -> None:
    credited = Snapshot(S.CONFIRMED, C.CHECKED, True, 4)
    flapped = detect(credited, tx(S.CONFIRMED, C.CHECKED, credited=False))
    assert flapped.events == ()
    assert flapped.snapshot.credited is True
    again = detect(flapped.snapshot, tx(S.CONFIRMED, C.CHECKED, credited=True))
    assert again.events == ()


@pytest.mark.parametrize(
    ("snapshot", "final"),
    [
        (Snapshot(S.DECLINED, C.DECLINE, False, 3), True),
        (Snapshot(S.CONFIRMED, C.CHECKED, True, 4), True),
        (Snapshot(S.CONFIRMED, C.CHECKED, False, 3), False),
        (Snapshot(S.MEM_POOL_FOUND, C.UNCHECKED, False, 1), False),
    ],
)
def test_final_means_nothing_more_can_happen(snapshot: Snapshot, final: bool) -> None:
    assert snapshot.final is final


def test_event_ids_are_deterministic_and_distinct_per_transition() -> None:
    one = event_id("0xacc", "tx-1", "1", E.TRANSACTION_MEM_POOL_FOUND)
    assert one == event_id("0xacc", "tx-1", "1", E.TRANSACTION_MEM_POOL_FOUND)
    assert one != event_id("0xacc", "tx-1", "2", E.TRANSACTION_MEM_POOL_FOUND)
    assert one != event_id("0xacc", "tx-2", "1", E.TRANSACTION_MEM_POOL_FOUND)
    assert one.startswith("evt_")
    assert len(one) == 30


def test_snapshots_round_trip_through_their_stored_bytes() -> None:
    snapshot = Snapshot(S.CONFIRMED, C.CHECKED, True, 4)
    assert snapshot.encode() == b'["CONFIRMED","CHECKED",true,4]'
    assert Snapshot.decode(snapshot.encode()) == snapshot
