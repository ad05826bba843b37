"""Creating and changing Calypso customers, and what the bridge records when it does.

Creation is idempotent twice over. An ``externalId`` that already names a customer returns
that customer instead of a duplicate: two requests with one external id are serialised by
a Redis lock, so the second sees the first one's customer instead of racing it. And a
retry that carries the idempotency key of an earlier request gets that request's answer
again. Every customer created or found is watched. Every change the bridge makes is announced
as an event, and never lost to a crash after the Calypso call: the call is made under an
intent (:mod:`bridge.intents`) that recovery settles. A customer found by its externalId was
not created by this request, so it is not announced as created.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

import msgspec
from redis.exceptions import LockError

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.errors import BridgeError
from bridge.events.build import customer_event
from bridge.events.stream import EventLog
from bridge.intents import (
    AnyIntent,
    BlockCustomer,
    CreateCustomer,
    IntentLog,
    UnblockCustomer,
    UpdateCustomer,
)
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient
from bridge.store.idempotency import (
    Claim,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    IdempotencyStore,
    StoredResponse,
)
from bridge.store.keys import Keys

__all__ = ["CreatedOrFound", "CustomerService", "ExternalIdInFlight", "IdempotentRequest"]

# A create holds its externalId's lock at most this long (an upstream call with retries
# fits well within); a second request waits for it this long before giving up.
LOCK_SECONDS = 60
LOCK_WAIT_SECONDS = 15


class ExternalIdInFlight(BridgeError):
    """Another request is creating a customer with this externalId; a retry will find it."""


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A caller's idempotency key and the fingerprint of the request that came with it.

    Keys are per caller (``scope``): two callers using one key never share an answer.
    """

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class CreatedOrFound:
    customer: models.Customer
    created: bool  # False: an existing customer with this externalId
    replayed: bool = False  # the answer given to an earlier request with the same key


_customer_decoder = msgspec.json.Decoder(models.Customer)


class CustomerService:
    def __init__(
        self,
        *,
        calypso: CalypsoClient,
        redis: RedisClient,
        keys: Keys,
        watchlist: WatchList,
        events: EventLog,
        idempotency: IdempotencyStore,
        intents: IntentLog,
        account: str,
        lock_wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._calypso = calypso
        self._redis = redis
        self._keys = keys
        self._watchlist = watchlist
        self._events = events
        self._idempotency = idempotency
        self._intents = intents
        self._account = account
        self._lock_wait = lock_wait

    async def create_or_find(
        self, request: models.CustomerCreate, idempotent: IdempotentRequest | None = None
    ) -> CreatedOrFound:
        """Create a customer, or find the one its externalId names; watch it either way.

        Raises :class:`ExternalIdInFlight` when another request holds the externalId too
        long, :class:`IdempotencyKeyInFlight` while the key's first request still runs and
        :class:`IdempotencyKeyReused` when the key came with a different request.
        """
        if idempotent is None:
            return await self._create_or_find(request)
        scope, key, fingerprint = idempotent.scope, idempotent.key, idempotent.fingerprint
        claim, stored = await self._idempotency.claim(scope, key, fingerprint)
        if claim is Claim.REPLAY:
            assert stored is not None
            customer = _customer_decoder.decode(stored.body)
            return CreatedOrFound(customer, created=stored.status == 201, replayed=True)
        if claim is Claim.IN_FLIGHT:
            raise IdempotencyKeyInFlight(key)
        if claim is Claim.MISMATCH:
            raise IdempotencyKeyReused(key)
        try:
            outcome = await self._create_or_find(request)
        except BaseException:
            # The outcome is either nothing or unknown: free the key so a retry runs again
            # (with an externalId, that retry finds a customer that did get created).
            await self._idempotency.release(scope, key, fingerprint)
            raise
        # Stored as the answer's status and the customer: what a replay must give back.
        status = 201 if outcome.created else 200
        body = msgspec.json.encode(outcome.customer)
        await self._idempotency.complete(scope, key, fingerprint, StoredResponse(status, body))
        return outcome

    async def update(self, update: models.CustomerUpdate) -> models.Customer:
        intent = UpdateCustomer(
            customerId=str(update.id), email=update.email, description=update.description
        )
        customer = await self._intents.attempt(
            intent, lambda: self._calypso.update_customer(update)
        )
        await self.announce_change(intent, customer)
        return customer

    async def block(self, customer_id: uuid.UUID) -> models.Customer:
        intent = BlockCustomer(customerId=str(customer_id))
        customer = await self._intents.attempt(
            intent, lambda: self._calypso.block_customer(customer_id)
        )
        await self.announce_change(intent, customer)
        return customer

    async def unblock(self, customer_id: uuid.UUID) -> models.Customer:
        intent = UnblockCustomer(customerId=str(customer_id))
        customer = await self._intents.attempt(
            intent, lambda: self._calypso.unblock_customer(customer_id)
        )
        await self.announce_change(intent, customer)
        return customer

    async def announce_created(self, intent: CreateCustomer, customer: models.Customer) -> None:
        """Watch a customer this bridge created and announce it; settle the intent.

        Also how recovery completes a create: ``customer.created`` has one id per customer, so
        announcing it twice (the request and recovery) writes it once.
        """
        await self._watchlist.watch(customer.id, "created")
        await self._announce(intent, customer)

    async def announce_change(
        self, intent: UpdateCustomer | BlockCustomer | UnblockCustomer, customer: models.Customer
    ) -> None:
        """Announce an update, block or unblock that took effect upstream; settle the intent.

        The event's id comes from the intent, so recovery writing it again writes it once.
        """
        await self._announce(intent, customer)

    async def _create_or_find(self, request: models.CustomerCreate) -> CreatedOrFound:
        if request.externalId is None:
            intent = CreateCustomer()
            created = await self._intents.attempt(
                intent, lambda: self._calypso.create_customer(request)
            )
            await self.announce_created(intent, created)
            return CreatedOrFound(created, created=True)
        lock = self._redis.lock(
            self._keys.external_id_lock(request.externalId),
            timeout=LOCK_SECONDS,
            blocking_timeout=self._lock_wait,
        )
        # redis-py answers False, it does not raise, when the wait runs out.
        if not await lock.acquire():
            raise ExternalIdInFlight(request.externalId)
        try:
            existing = await self._calypso.find_customers_by_external_id(request.externalId)
            if existing:
                # Not created by this request (nor, perhaps, by this bridge): watched, but
                # announcing it as created would tell receivers of a creation that was not.
                await self._watchlist.watch(existing[0].id, "created")
                return CreatedOrFound(existing[0], created=False)
            intent = CreateCustomer(externalId=request.externalId)
            created = await self._intents.attempt(
                intent, lambda: self._calypso.create_customer(request)
            )
            await self.announce_created(intent, created)
            return CreatedOrFound(created, created=True)
        finally:
            with contextlib.suppress(LockError):  # expired while we worked: nothing to release
                await lock.release()

    async def _announce(self, intent: AnyIntent, customer: models.Customer) -> None:
        # Written, then settled: a crash between the two leaves the intent to recovery, whose
        # second write of the same event id is skipped by the event log.
        event = customer_event(self._account, intent.announces, customer, intent.id)
        await self._events.append([event])
        await self._intents.settle(intent)
