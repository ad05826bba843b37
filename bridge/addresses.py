"""Issuing a customer's deposit address, and announcing it exactly once.

Calypso's ``address/get`` is get-or-create per network: the first call for a network makes
the purse, later ones return it. ``deposit_address.issued`` has one id per purse, so only the
first issue of an address is announced. The call is made under an intent
(:mod:`bridge.intents`), so a crash after it loses no announcement.
"""

from __future__ import annotations

import uuid

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.events.build import address_issued
from bridge.events.stream import EventLog
from bridge.intents import IntentLog, IssueAddress
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList

__all__ = ["AddressService"]


class AddressService:
    def __init__(
        self,
        *,
        calypso: CalypsoClient,
        watchlist: WatchList,
        schedule: PollSchedule,
        events: EventLog,
        intents: IntentLog,
        account: str,
        hot_for: float,
    ) -> None:
        self._calypso = calypso
        self._watchlist = watchlist
        self._schedule = schedule
        self._events = events
        self._intents = intents
        self._account = account
        self._hot_for = hot_for

    async def issue(self, customer_id: uuid.UUID, currency: str) -> models.Purse:
        """The customer's address for ``currency``'s network, issued if it had none."""
        intent = IssueAddress(customerId=str(customer_id), currency=currency)
        purse = await self._intents.attempt(
            intent, lambda: self._calypso.get_purse_address(customer_id, currency)
        )
        await self.announce(intent, purse)
        return purse

    async def announce(self, intent: IssueAddress, purse: models.Purse) -> None:
        """Watch the customer, closely for a while (a deposit to a new address is likely
        soon), and announce the address; settle the intent. Recovery completes with it too."""
        customer = intent.customerId
        await self._watchlist.watch(customer, "address")
        await self._watchlist.keep_hot(customer, self._hot_for)
        await self._schedule.poke(customer)
        await self._events.append([address_issued(self._account, customer, purse)])
        await self._intents.settle(intent)
