"""Delivering events again (every matching event since a time, or one event), and tests.

Both queue deliveries the way the fan-out does, pointing at the event's entry in the
stream, so the bytes sent are the event's own and the ``webhook-id`` stays the event id:
receivers recognise a repeat. A delivery of the same event still waiting is left alone
(never doubled); one among the dead letters leaves them. A dead letter whose event the
stream has trimmed since is brought back from the bytes it kept, with the same id. A test
is a sample event that exists only in its delivery: it carries its own bytes, since the
stream never saw it, and it skips any customer's line.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from bridge.delivery.queue import DeliveryQueue, DeliveryState
from bridge.delivery.subscriptions import Subscription, SubscriptionStore, matches
from bridge.errors import BridgeError
from bridge.events.model import EventType
from bridge.events.samples import sample_event
from bridge.events.stream import EventLog, StoredEvent

__all__ = [
    "REPLAY_LIMIT",
    "EventNotFound",
    "Redelivery",
    "SubscriptionDisabled",
    "SubscriptionNotFound",
]

REPLAY_LIMIT = 100_000  # events scanned by one replay; the caller may replay again after
_PAGE = 1000


class EventNotFound(BridgeError):
    """No such event: unknown, or older than the stream's retention and not kept by a dead
    letter."""


class SubscriptionNotFound(BridgeError):
    """No subscription has this id."""


class SubscriptionDisabled(BridgeError):
    """A test of a disabled subscription would wait, unsent, until someone enables it."""


class Redelivery:
    def __init__(
        self,
        events: EventLog,
        subscriptions: SubscriptionStore,
        deliveries: DeliveryQueue,
        *,
        account: str,
    ) -> None:
        self._account = account
        self._events = events
        self._subscriptions = subscriptions
        self._deliveries = deliveries

    async def replay(self, subscription: Subscription, since: datetime) -> int:
        """Queue every event since ``since`` (naive means UTC) that the subscription wants;
        how many were queued. At most :data:`REPLAY_LIMIT` events are scanned."""
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        cursor = f"{max(0, int(since.timestamp() * 1000))}-0"
        queued = 0
        scanned = 0
        while scanned < REPLAY_LIMIT:
            page = await self._events.page(
                cursor=cursor, limit=_PAGE, newest_first=False, scan_limit=_PAGE
            )
            for stored in page.items:
                if matches(subscription, stored.type, stored.customer_id):
                    queued += await self._deliveries.enqueue(
                        subscription.id, stored.event_id, _state(subscription, stored)
                    )
            scanned += len(page.items)
            if page.next_cursor is None or not page.items:
                break
            cursor = page.next_cursor
        return queued + await self._replay_kept(subscription, since)

    async def _replay_kept(self, subscription: Subscription, since: datetime) -> int:
        """Queue the dead letters since ``since`` that the stream scan did not bring back
        (their entries trimmed), from the bytes they kept."""
        since_ms = since.timestamp() * 1000
        queued = 0
        for letter in await self._deliveries.dead_letters(subscription.id):
            if letter.body is None or letter.entry is None:
                continue  # nothing to send, or a test event (never in the stream)
            if int(letter.entry.split("-", 1)[0]) < since_ms:
                continue
            queued += await self._deliveries.enqueue(
                subscription.id, letter.eventId, letter.redelivery()
            )
        return queued

    async def redeliver(
        self, event_id: str, subscription_id: str | None = None, *, owner: str | None = None
    ) -> int:
        """Queue one event again for every enabled subscription that wants it, or for the
        one named (enabled or not); how many deliveries were queued. With ``owner``, only
        that token's subscriptions count: another's is as unknown as a missing one."""
        stored = await self._events.get(event_id)
        if stored is None:
            return await self._redeliver_kept(event_id, subscription_id, owner)
        if subscription_id is not None:
            targets = [await self._named(subscription_id, owner)]
        else:
            targets = [
                s
                for s in await self._subscriptions.all()
                if s.enabled and _owned(s, owner) and matches(s, stored.type, stored.customer_id)
            ]
        queued = 0
        for target in targets:
            state = _state(target, stored)
            queued += await self._deliveries.enqueue(target.id, event_id, state)
        return queued

    async def _named(self, subscription_id: str, owner: str | None) -> Subscription:
        target = await self._subscriptions.get(subscription_id)
        if target is None or not _owned(target, owner):
            raise SubscriptionNotFound(subscription_id)
        return target

    async def _redeliver_kept(
        self, event_id: str, subscription_id: str | None, owner: str | None
    ) -> int:
        """The event has left the stream: queue its dead letters again (of the subscription
        named, or of every enabled one) from the bytes they kept."""
        if subscription_id is not None:
            targets = [(await self._named(subscription_id, owner)).id]
        else:
            targets = [
                s.id for s in await self._subscriptions.all() if s.enabled and _owned(s, owner)
            ]
        queued = 0
        for target in targets:
            letter = await self._deliveries.dead_letter(target, event_id)
            if letter is not None and letter.body is not None:
                queued += await self._deliveries.enqueue(target, event_id, letter.redelivery())
        if not queued:
            raise EventNotFound(event_id)
        return queued

    async def send_test(self, subscription: Subscription, kind: EventType) -> str:
        """Queue a sample of ``kind`` marked ``"test": true``, due now; its event id."""
        if not subscription.enabled:
            raise SubscriptionDisabled(subscription.id)
        event = sample_event(self._account, kind, subscription.id)
        state = DeliveryState(kind, body=msgspec.json.encode(event))
        await self._deliveries.enqueue(subscription.id, event.id, state)
        return event.id


def _owned(subscription: Subscription, owner: str | None) -> bool:
    return owner is None or subscription.owner == owner


def _state(subscription: Subscription, stored: StoredEvent) -> DeliveryState:
    """A delivery pointing at the event's entry; on an ordered subscription it joins the
    end of its customer's line (a replay queues in stream order, so the line keeps it)."""
    ordered = subscription.ordering == "customer"
    line = stored.customer_id if ordered else None
    return DeliveryState(stored.type, entry=stored.entry_id, line=line)
