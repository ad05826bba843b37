"""Settling the intents a request left behind: ask Calypso what happened, then write or drop.

An intent (:mod:`bridge.intents`) older than ``recover_after`` belongs to a request that died
after recording it, or whose call ended without a known outcome. What Calypso shows now says
whether the call took effect:

- a create with an ``externalId``: a customer with that id exists (the request looked it up
  under the externalId's lock and found none before creating);
- an update: the customer has the email and description it asked for;
- a block or an unblock: the customer is blocked, or not;
- an address: the customer has a purse for the currency (``address/get`` is get-or-create).

Took effect: the request's own completion runs (watch, event, settle), with the same event id
the request would have written. Did not: the intent is dropped. Calypso unreachable: it
waits for the next round. A create without an ``externalId`` cannot be learnt (Calypso has no
other way to find a customer than by id or externalId), so it is dropped with a warning and
counted as ``unknown``: a crash there may lose that one ``customer.created``. A state that
matches only because it already held before the call (blocking a blocked customer) is
taken as done: the event then announces a change the customer was already in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from redis.exceptions import RedisError

from bridge.addresses import AddressService
from bridge.calypso.client import CalypsoClient
from bridge.calypso.errors import CalypsoError, CalypsoNotFound
from bridge.customers import CustomerService
from bridge.intents import (
    AnyIntent,
    BlockCustomer,
    CreateCustomer,
    IntentLog,
    IssueAddress,
    UnblockCustomer,
    UpdateCustomer,
)
from bridge.metrics import Metrics

__all__ = ["IntentRecovery"]

log = logging.getLogger(__name__)


class IntentRecovery:
    def __init__(
        self,
        *,
        intents: IntentLog,
        calypso: CalypsoClient,
        customers: CustomerService,
        addresses: AddressService,
        metrics: Metrics,
        recover_after: float,
    ) -> None:
        self._intents = intents
        self._calypso = calypso
        self._customers = customers
        self._addresses = addresses
        self._metrics = metrics
        self._after = recover_after
        # Often enough that a settled intent waits little past its age; never a busy loop.
        self.interval = min(max(recover_after / 4, 0.25), 30.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Recover every ``interval`` until ``stop``; a failed round is logged and retried."""
        while not stop.is_set():
            try:
                await self.recover()
            except (RedisError, CalypsoError):
                log.warning("intent recovery failed; retrying next round", exc_info=True)
            except Exception:
                # A bug, but a background loop that died would leave every later intent
                # unsettled without a sound: log it loudly and keep going.
                log.exception("intent recovery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def recover(self) -> dict[str, int]:
        """One round over the intents old enough; how many ended which way."""
        outcomes: dict[str, int] = {}
        for intent in await self._intents.older_than(self._after):
            try:
                outcome = await self._settle(intent)
            except CalypsoNotFound:
                # The customer does not exist, so neither did the call's effect.
                await self._intents.settle(intent)
                outcome = "dropped"
            except CalypsoError:
                log.warning(
                    "intent left for the next round: Calypso did not answer",
                    extra={"intent": intent.id, "operation": intent.operation},
                )
                continue
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            self._metrics.intents_recovered.labels(outcome).inc()
        return outcomes

    async def _settle(self, intent: AnyIntent) -> str:
        customers, addresses, calypso = self._customers, self._addresses, self._calypso
        match intent:
            case CreateCustomer(externalId=None):
                log.warning(
                    "a customer create without externalId ended unknown: it cannot be looked "
                    "up, so its customer.created (if it was created) is not written",
                    extra={"intent": intent.id},
                )
                await self._intents.settle(intent)
                return "unknown"
            case CreateCustomer(externalId=str(external_id)):
                found = await calypso.find_customers_by_external_id(external_id)
                if found:
                    await customers.announce_created(intent, found[0])
                    return "completed"
            case UpdateCustomer():
                customer = await calypso.get_customer(uuid.UUID(intent.customerId))
                wanted = (intent.email, intent.description)
                now = (customer.email, customer.description)
                if all(w is None or w == n for w, n in zip(wanted, now, strict=True)):
                    await customers.announce_change(intent, customer)
                    return "completed"
            case BlockCustomer() | UnblockCustomer():
                customer = await calypso.get_customer(uuid.UUID(intent.customerId))
                if customer.blocked == isinstance(intent, BlockCustomer):
                    await customers.announce_change(intent, customer)
                    return "completed"
            case IssueAddress():
                currency = intent.currency.upper()
                purses = await calypso.get_purses(uuid.UUID(intent.customerId))
                for purse in purses:
                    if currency in (c.upper() for c in purse.currencies):
                        await addresses.announce(intent, purse)
                        return "completed"
        await self._intents.settle(intent)
        return "dropped"
