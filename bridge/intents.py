"""What an API request is about to change at Calypso, recorded in Redis before it does.

A request that changes something upstream announces it with an event (``customer.*``,
``deposit_address.issued``). The Calypso call and the stream write cannot be one step, and
a process can die between them. So the request records its intent first, makes the call,
writes the event and then settles (removes) the intent. An intent left behind, by a crash
or by a call whose outcome the request could not know (a timeout, a 5xx), is settled by
recovery (:mod:`bridge.recovery`), which asks Calypso what happened: the event is written
when the call took effect and never when it did not. The event ids are fixed by the intent
(or by what it created), so the request and recovery writing the same event write it once.

The intents of one account are few (the requests in flight, and what crashes left) and live
in one hash, each as a tagged JSON struct whose tag is the Calypso operation it stands for.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar, cast

import msgspec

from bridge.calypso.errors import CalypsoRejected
from bridge.events.model import EventType
from bridge.faults import FaultHook
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.replication import ReplicatedWrites, WriteNotReplicated

__all__ = [
    "AnyIntent",
    "BlockCustomer",
    "CreateCustomer",
    "Intent",
    "IntentLog",
    "IssueAddress",
    "UnblockCustomer",
    "UpdateCustomer",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


def _new_id() -> str:
    return secrets.token_hex(12)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Intent(msgspec.Struct, frozen=True, kw_only=True, tag_field="operation"):
    """One upstream call a request is about to make; ``announces`` the event it leads to."""

    announces: ClassVar[EventType]
    id: str = msgspec.field(default_factory=_new_id)
    at: int = msgspec.field(default_factory=_now_ms)  # unix ms when recorded

    @property
    def operation(self) -> str:
        """The Calypso operation (endpoint name), which is also the intent's tag."""
        return cast(str, self.__struct_config__.tag)


class CreateCustomer(Intent, frozen=True, tag="customer.create"):
    announces = EventType.CUSTOMER_CREATED
    # Without one, recovery cannot find the customer: Calypso has no other lookup.
    externalId: str | None = None


class UpdateCustomer(Intent, frozen=True, tag="customer.update"):
    announces = EventType.CUSTOMER_UPDATED
    customerId: str
    email: str | None = None
    description: str | None = None


class BlockCustomer(Intent, frozen=True, tag="customer.block"):
    announces = EventType.CUSTOMER_BLOCKED
    customerId: str


class UnblockCustomer(Intent, frozen=True, tag="customer.unblock"):
    announces = EventType.CUSTOMER_UNBLOCKED
    customerId: str


class IssueAddress(Intent, frozen=True, tag="address.get"):
    announces = EventType.DEPOSIT_ADDRESS_ISSUED
    customerId: str
    currency: str


AnyIntent = CreateCustomer | UpdateCustomer | BlockCustomer | UnblockCustomer | IssueAddress

_decoder = msgspec.json.Decoder(AnyIntent)


class IntentLog:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        faults: FaultHook | None = None,
        *,
        writes: ReplicatedWrites | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._faults = faults or FaultHook()
        # The intent is the one write a failover must not lose: nothing else would announce a
        # call that took effect. It reaches a replica before the call is made.
        self._writes = writes or ReplicatedWrites(redis, replicas=0, timeout=1.0)

    async def attempt(self, intent: AnyIntent, call: Callable[[], Awaitable[T]]) -> T:
        """Record ``intent``, then make the upstream ``call``; its answer.

        The intent stays recorded for the caller to settle once the event is written. When
        Calypso refused the call (4xx) nothing happened upstream and it is settled here; any
        other failure leaves the outcome unknown, and the intent to recovery.

        An intent no replica acknowledged in time raises :class:`WriteNotReplicated` and the
        call is not made: the intent is removed (had the removal been lost, recovery would
        find that nothing happened upstream and drop it).
        """
        key = self._keys.intents
        try:
            await self._writes.write(key, "HSET", key, intent.id, msgspec.json.encode(intent))
        except WriteNotReplicated:
            await self.settle(intent)
            raise
        try:
            answer = await call()
        except CalypsoRejected:
            await self.settle(intent)
            raise
        self._faults.after_upstream(intent.operation)
        return answer

    async def settle(self, intent: AnyIntent) -> None:
        """Done with: its event is written, or its call is known not to have happened."""
        await self._redis.hdel(self._keys.intents, intent.id)

    async def older_than(self, seconds: float) -> list[AnyIntent]:
        """Intents recorded at least ``seconds`` ago, oldest first: long enough that the
        request that recorded them has finished or died."""
        stored = cast(dict[bytes, bytes], await self._redis.hgetall(self._keys.intents))
        cutoff = _now_ms() - int(seconds * 1000)
        found: list[AnyIntent] = []
        for intent_id, raw in stored.items():
            try:
                intent = _decoder.decode(raw)
            except msgspec.DecodeError:
                # Written by another version of the bridge; left for a process that reads it.
                log.warning("unreadable intent skipped", extra={"intent": intent_id.decode()})
                continue
            if intent.at <= cutoff:
                found.append(intent)
        return sorted(found, key=lambda i: i.at)
