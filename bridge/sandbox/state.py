"""Everything the sandbox remembers: customers, purses, transactions, faults, counters and
the request log.

Concurrency: no method here awaits, so each change runs to completion before the event loop
lets another request in; that, and every request being served by the one loop, is the guard.
Keep it that way: an ``await`` inside a method would need an ``asyncio.Lock`` around it.

Changes Calypso announces with a purse webhook are told to ``on_event`` as they happen; the
state itself never sends anything (``webhooks`` does).
"""

from __future__ import annotations

import random
import time
import uuid
from decimal import Decimal

from bridge.calypso.endpoints import ENDPOINTS
from bridge.calypso.models import ComplianceState, TransactionState
from bridge.sandbox import lifecycle
from bridge.sandbox.addresses import (
    CURRENCIES,
    Currency,
    Network,
    address_for,
    currencies_of,
    transaction_hash_for,
)
from bridge.sandbox.entropy import Entropy
from bridge.sandbox.faults import FaultInjector, RequestCounters
from bridge.sandbox.purse_events import PurseEventListener, PurseEventType, transaction_events
from bridge.sandbox.records import (
    CustomerRecord,
    InvalidRequest,
    ObjectNotFound,
    PurseRecord,
    TransactionRecord,
)
from bridge.sandbox.requestlog import RequestLog

__all__ = ["SandboxState"]


class SandboxState:
    """The in-memory upstream; ``app.state.sandbox`` of the sandbox app."""

    def __init__(
        self, *, seed: int | None = None, on_event: PurseEventListener | None = None
    ) -> None:
        self._entropy = Entropy(seed)
        self._last_us = 0
        self.customers: dict[uuid.UUID, CustomerRecord] = {}
        self.purses: dict[uuid.UUID, PurseRecord] = {}
        self.transactions: dict[uuid.UUID, TransactionRecord] = {}
        self._purse_by_address: dict[str, uuid.UUID] = {}
        # Its own generator, so fault draws do not shift when more addresses are minted.
        self.faults = FaultInjector(random.Random(seed))
        self.counters = RequestCounters(endpoint.name for endpoint in ENDPOINTS)
        self.requests = RequestLog()
        self._on_event = on_event

    def reset(self) -> None:
        self.customers.clear()
        self.purses.clear()
        self.transactions.clear()
        self._purse_by_address.clear()
        self.faults.clear()
        self.counters.reset()
        self.requests.clear()

    def _now_us(self) -> int:
        # Strictly increasing, so "newest first" is never a tie within one sandbox.
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return self._last_us

    # --- customers -----------------------------------------------------------------------------

    def create_customer(
        self, *, email: str | None, description: str | None, external_id: str | None
    ) -> CustomerRecord:
        # External ids are not unique upstream: a second customer may carry the same one.
        customer = CustomerRecord(
            self._entropy.uuid4(),
            email=email,
            description=description,
            external_id=external_id,
        )
        self.customers[customer.id] = customer
        return customer

    def customer(self, customer_id: uuid.UUID) -> CustomerRecord:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise ObjectNotFound(f"customer {customer_id} not found")
        return customer

    def update_customer(
        self, customer_id: uuid.UUID, *, email: str | None, description: str | None
    ) -> CustomerRecord:
        customer = self.customer(customer_id)
        if email is not None:
            customer.email = email
        if description is not None:
            customer.description = description
        return customer

    def set_blocked(self, customer_id: uuid.UUID, *, blocked: bool) -> CustomerRecord:
        customer = self.customer(customer_id)
        customer.blocked = blocked
        return customer

    def customers_with_external_id(self, external_id: str) -> list[CustomerRecord]:
        return [c for c in self.customers.values() if c.external_id == external_id]

    # --- purses --------------------------------------------------------------------------------

    def purse_for(self, customer_id: uuid.UUID, ticker: str) -> PurseRecord:
        """Get-or-create: one live purse per customer and network."""
        customer = self.customer(customer_id)
        currency = _currency(ticker)
        if customer.blocked:
            raise InvalidRequest("customer is blocked")
        existing = self._live_purse(customer_id, currency.network)
        if existing is not None:
            return existing
        address = address_for(currency.network, self._entropy.random_bytes)
        while address in self._purse_by_address:
            address = address_for(currency.network, self._entropy.random_bytes)
        purse = PurseRecord(
            self._entropy.uuid4(), customer_id, currency.network, address, self._now_us()
        )
        self.purses[purse.id] = purse
        self._purse_by_address[address] = purse.id
        return purse

    def purses_of(self, customer_id: uuid.UUID) -> list[PurseRecord]:
        self.customer(customer_id)
        return [p for p in self.purses.values() if p.customer_id == customer_id]

    def purse(self, purse_id: uuid.UUID) -> PurseRecord:
        purse = self.purses.get(purse_id)
        if purse is None:
            raise ObjectNotFound(f"purse {purse_id} not found")
        return purse

    def expire_purse(self, purse_id: uuid.UUID) -> PurseRecord:
        purse = self.purse(purse_id)
        if not purse.expired:
            purse.expired = True
            self._announce(PurseEventType.CUSTOMER_PURSE_EXPIRED, purse, None)
        return purse

    def _live_purse(self, customer_id: uuid.UUID, network: Network) -> PurseRecord | None:
        # An expired purse is never handed out again: address/get then issues a new one.
        for purse in self.purses.values():
            if purse.customer_id == customer_id and purse.network is network and not purse.expired:
                return purse
        return None

    # --- transactions --------------------------------------------------------------------------

    def transaction(self, transaction_id: uuid.UUID) -> TransactionRecord:
        transaction = self.transactions.get(transaction_id)
        if transaction is None:
            raise ObjectNotFound(f"transaction {transaction_id} not found")
        return transaction

    def transactions_of(self, customer_id: uuid.UUID) -> list[TransactionRecord]:
        self.customer(customer_id)
        return [t for t in self.transactions.values() if t.customer_id == customer_id]

    def deposit(
        self,
        *,
        ticker: str,
        amount: Decimal,
        address: str | None = None,
        customer_id: uuid.UUID | None = None,
        address_from: str | None = None,
        transaction_hash: str | None = None,
        state: TransactionState = TransactionState.MEM_POOL_FOUND,
    ) -> TransactionRecord:
        """Simulate funds arriving at a purse, found by its address or its customer."""
        currency = _currency(ticker)
        purse = self._deposit_target(currency, address, customer_id)
        if currency.network is not purse.network:
            raise InvalidRequest(
                f"{currency.ticker} is not a {purse.network} currency; "
                f"this purse takes {', '.join(currencies_of(purse.network))}"
            )
        transaction = TransactionRecord(
            id=self._entropy.uuid4(),
            customer_id=purse.customer_id,
            purse_id=purse.id,
            currency=currency.ticker,
            amount=lifecycle.checked_amount(amount, currency),
            address_from=address_from or address_for(purse.network, self._entropy.random_bytes),
            transaction_hash=transaction_hash
            or transaction_hash_for(purse.network, self._entropy.random_bytes),
            state=state,
            compliance=lifecycle.INITIAL_COMPLIANCE[state],
            credited=False,
            created_us=self._now_us(),
        )
        self.transactions[transaction.id] = transaction
        self._announce_change(transaction, before=None, was_credited=False)
        return transaction

    def _deposit_target(
        self, currency: Currency, address: str | None, customer_id: uuid.UUID | None
    ) -> PurseRecord:
        if (address is None) == (customer_id is None):
            raise InvalidRequest("give either address or customerId (with currency)")
        if address is not None:
            purse_id = self._purse_by_address.get(address)
            if purse_id is None:
                raise ObjectNotFound(f"no purse has address {address}")
            return self.purses[purse_id]
        assert customer_id is not None
        self.customer(customer_id)
        purse = self._live_purse(customer_id, currency.network)
        if purse is None:
            raise ObjectNotFound(
                f"customer {customer_id} has no {currency.network} purse; call address/get first"
            )
        return purse

    def advance(self, transaction_id: uuid.UUID, *, decline: bool = False) -> TransactionRecord:
        transaction = self.transaction(transaction_id)
        before, was_credited = transaction.state, transaction.credited
        lifecycle.advance(transaction, decline=decline)
        self._announce_change(transaction, before=before, was_credited=was_credited)
        return transaction

    def patch(
        self,
        transaction_id: uuid.UUID,
        *,
        state: TransactionState | None = None,
        compliance: ComplianceState | None = None,
        credited: bool | None = None,
    ) -> TransactionRecord:
        transaction = self.transaction(transaction_id)
        before, was_credited = transaction.state, transaction.credited
        lifecycle.patch(transaction, state=state, compliance=compliance, credited=credited)
        self._announce_change(transaction, before=before, was_credited=was_credited)
        return transaction

    def _announce_change(
        self,
        transaction: TransactionRecord,
        *,
        before: TransactionState | None,
        was_credited: bool,
    ) -> None:
        purse = self.purse(transaction.purse_id)
        for event_type in transaction_events(before, was_credited, transaction):
            self._announce(event_type, purse, transaction)

    def _announce(
        self, event_type: PurseEventType, purse: PurseRecord, transaction: TransactionRecord | None
    ) -> None:
        if self._on_event is not None:
            self._on_event(event_type, self.customer(purse.customer_id), purse, transaction)


def _currency(ticker: str) -> Currency:
    currency = CURRENCIES.get(ticker)
    if currency is None:
        raise InvalidRequest(f"unsupported currency {ticker!r}; supported: {', '.join(CURRENCIES)}")
    return currency
