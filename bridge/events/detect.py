"""Which events one observation of a transaction produces (pure; no I/O).

The rules of DESIGN §4, applied to the last snapshot and what Calypso says now:

- first sight, or a new ``transactionState``: the event of that state (compliance changes
  that come with it ride along in the transaction it carries);
- same state, new ``complianceState``: ``transaction.compliance_updated``;
- ``translationToAccountCompleted`` newly true: ``transaction.credited``, after any state
  event of the same observation.

States in between that the poller never saw are not invented, and a credited transaction
stays credited even if a later answer says otherwise (no second ``credited``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.calypso import models
from bridge.events.model import STATE_EVENTS, EventType, Snapshot

__all__ = ["Detection", "detect"]


@dataclass(frozen=True, slots=True)
class Detection:
    events: tuple[EventType, ...]
    snapshot: Snapshot


def detect(previous: Snapshot | None, tx: models.Transaction) -> Detection:
    events: list[EventType] = []
    if previous is None or tx.transactionState != previous.state:
        events.append(STATE_EVENTS[tx.transactionState])
    elif tx.complianceState != previous.compliance:
        events.append(EventType.TRANSACTION_COMPLIANCE_UPDATED)
    was_credited = previous is not None and previous.credited
    if tx.translationToAccountCompleted and not was_credited:
        events.append(EventType.TRANSACTION_CREDITED)
    sequence = (previous.sequence if previous else 0) + len(events)
    snapshot = Snapshot(
        state=tx.transactionState,
        compliance=tx.complianceState,
        credited=tx.translationToAccountCompleted or was_credited,
        sequence=sequence,
    )
    return Detection(tuple(events), snapshot)
