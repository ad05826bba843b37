"""Poll one customer: read what changed upstream and record it as events.

A poll reads only what it must. Transactions come newest first, a page at a time, and the
reading stops at the first transaction already known in a final state (everything older is
known and final too, or known and open, and open ones are re-read one by one below). So a
quiet customer costs one call per poll, and a busy one a page plus its open transactions.

Each observed transaction goes through :func:`bridge.events.detect.detect` and the atomic
record step of :class:`bridge.events.stream.EventLog`; if another poller recorded a change
first, detection runs again from what it recorded, so nothing is emitted twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.errors import BridgeError
from bridge.events.build import transaction_events
from bridge.events.detect import detect
from bridge.events.model import EventType, Snapshot
from bridge.events.stream import EventLog

__all__ = ["PAGE_SIZE", "CustomerPoller", "PollOutcome", "TransactionContended"]

PAGE_SIZE = 50
_RECORD_ATTEMPTS = 5


class TransactionContended(BridgeError):
    """Other pollers recorded a change of this transaction before every attempt of ours.

    Each attempt detects again from what the others recorded, so this takes a transaction
    changing faster than the pollers can record it; the next poll tries again.
    """

    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"transaction {transaction_id} kept changing under concurrent pollers")
        self.transaction_id = transaction_id


@dataclass(frozen=True, slots=True)
class PollOutcome:
    open_transactions: int
    events: tuple[EventType, ...]


class CustomerPoller:
    def __init__(self, calypso: CalypsoClient, log: EventLog, account: str) -> None:
        self._calypso = calypso
        self._log = log
        self._account = account

    async def poll(self, customer_id: str) -> PollOutcome:
        known = await self._log.snapshots(customer_id)
        seen: set[str] = set()
        emitted: list[EventType] = []
        page = 1
        while True:
            found = await self._calypso.find_transactions(
                models.TransactionSearch(
                    uuid.UUID(customer_id), page, PAGE_SIZE, "DESC", "createdDate"
                )
            )
            reached_final = False
            for tx in found.result:
                seen.add(tx.id)
                before = known.get(tx.id)
                reached_final |= before is not None and before[1].final
                emitted += await self._observe(customer_id, tx, known)
            if reached_final or not found.result or page >= found.total:
                break
            page += 1
        for tx_id, (_, snapshot) in list(known.items()):
            if tx_id not in seen and not snapshot.final:
                tx = await self._calypso.get_transaction(uuid.UUID(tx_id))
                emitted += await self._observe(customer_id, tx, known)
        still_open = sum(1 for _, snapshot in known.values() if not snapshot.final)
        return PollOutcome(still_open, tuple(emitted))

    async def _observe(
        self,
        customer_id: str,
        tx: models.Transaction,
        known: dict[str, tuple[bytes, Snapshot]],
    ) -> list[EventType]:
        expected, previous = known.get(tx.id, (b"", None))
        for _ in range(_RECORD_ATTEMPTS):
            detection = detect(previous, tx)
            if not detection.events:
                return []
            events = transaction_events(self._account, customer_id, tx, previous, detection.events)
            done, current = await self._log.record(
                customer_id, tx.id, expected, detection.snapshot, events
            )
            if done:
                known[tx.id] = (current, detection.snapshot)
                return list(detection.events)
            # Another poller got there first: detect again from what it recorded.
            expected = current
            previous = Snapshot.decode(current) if current else None
            if previous is not None:
                known[tx.id] = (current, previous)
        raise TransactionContended(tx.id)
