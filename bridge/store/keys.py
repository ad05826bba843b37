"""Every Redis key the bridge uses, built in one place.

All keys share one prefix and one hash tag per Calypso account (``bridge:{0xab…}:…``), so on
Redis Cluster everything of an account lives in one slot and multi-key scripts and
transactions stay legal.
"""

from __future__ import annotations

import hashlib

__all__ = ["Keys"]


def _digest(value: str) -> str:
    # Caller-chosen strings (external ids, idempotency keys) are hashed so that any byte
    # sequence makes a short, safe key.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class Keys:
    def __init__(self, prefix: str, account: str) -> None:
        self.account = account.lower()
        self.base = f"{prefix}:{{{self.account}}}"

    def idempotency(self, scope: str, key: str) -> str:
        return f"{self.base}:idem:{scope}:{_digest(key)}"

    def external_id_lock(self, external_id: str) -> str:
        return f"{self.base}:lock:external-id:{_digest(external_id)}"

    @property
    def intents(self) -> str:
        """Hash: intent id → an upstream call an API request made or is making, whose event
        is not written yet (bridge.intents)."""
        return f"{self.base}:intents"

    @property
    def watched(self) -> str:
        """Hash: customer id → JSON of when and why it is watched."""
        return f"{self.base}:watched"

    @property
    def poll_schedule(self) -> str:
        """Sorted set: customer id → unix ms when it is next due for a poll."""
        return f"{self.base}:poll:schedule"

    @property
    def poll_leases(self) -> str:
        """Hash: customer id → ``worker:expiry-ms`` of the poll that holds it."""
        return f"{self.base}:poll:leases"

    @property
    def poll_poked(self) -> str:
        """Set: customers to poll again as soon as their running poll ends."""
        return f"{self.base}:poll:poked"

    @property
    def poll_state(self) -> str:
        """Hash: customer id → cadence state (idle streak, failures) of its last poll."""
        return f"{self.base}:poll:state"

    @property
    def poll_hot_until(self) -> str:
        """Sorted set: customer id → unix ms until which a new address keeps it hot."""
        return f"{self.base}:poll:hot-until"

    @property
    def poll_wake(self) -> str:
        """List: a push wakes one sleeping worker (an inbound hint made a customer due)."""
        return f"{self.base}:poll:wake"

    @property
    def upstream_rate(self) -> str:
        """The shared rate limiter's theoretical arrival time (GCRA), in microseconds."""
        return f"{self.base}:upstream:rate"

    def transactions(self, customer_id: str) -> str:
        """Hash: transaction id → last observed snapshot, for one customer."""
        return f"{self.base}:customer:{customer_id}:transactions"

    def event_index(self, event_id: str) -> str:
        """String: the stream entry id of an event; its existence also dedupes the event."""
        return f"{self.base}:event:{event_id}"

    def inbound_seen(self, webhook_id: str) -> str:
        """Marks an inbound Calypso webhook id as handled."""
        return f"{self.base}:inbound:{_digest(webhook_id)}"

    @property
    def events(self) -> str:
        return f"{self.base}:events"

    @property
    def dispatcher_group(self) -> str:
        """The webhook dispatcher's consumer group on the event stream."""
        return "bridge-dispatcher"

    @property
    def subscriptions(self) -> str:
        """Hash: subscription id → its record (with secrets; never listed as is)."""
        return f"{self.base}:subscriptions"

    @property
    def subscriptions_disabled(self) -> str:
        """Hash: subscription id → why it is disabled; absent means enabled."""
        return f"{self.base}:subscriptions:disabled"

    @property
    def subscriptions_failing(self) -> str:
        """Hash: subscription id → unix ms of the first failure since its last success."""
        return f"{self.base}:subscriptions:failing"

    @property
    def deliveries_active(self) -> str:
        """Set: subscriptions that may have deliveries waiting."""
        return f"{self.base}:deliveries:active"

    def deliveries_due(self, subscription_id: str) -> str:
        """Sorted set: event id → unix ms when its next attempt is due (or its lease ends)."""
        return f"{self.base}:sub:{subscription_id}:due"

    def deliveries_leases(self, subscription_id: str) -> str:
        return f"{self.base}:sub:{subscription_id}:leases"

    def deliveries_state(self, subscription_id: str) -> str:
        """Hash: event id → attempts made and where the event's bytes are."""
        return f"{self.base}:sub:{subscription_id}:state"

    def deliveries_line(self, subscription_id: str, customer_id: str) -> str:
        """Sorted set: one customer's deliveries of an ordered subscription by stream entry;
        only the first is in the due queue (DESIGN §6, ``"ordering": "customer"``)."""
        return f"{self.base}:sub:{subscription_id}:line:{customer_id}"

    def deliveries_dead(self, subscription_id: str) -> str:
        """Hash: event id → the dead-lettered delivery with the event's bytes, until replayed,
        redelivered or past the dead-letter retention."""
        return f"{self.base}:sub:{subscription_id}:dead"

    def deliveries_dead_since(self, subscription_id: str) -> str:
        """Sorted set: event id → unix ms it became a dead letter (what retention reads)."""
        return f"{self.base}:sub:{subscription_id}:dead-since"

    def attempts(self, subscription_id: str) -> str:
        """Stream: the attempt log of one subscription, newest last."""
        return f"{self.base}:sub:{subscription_id}:attempts"

    @property
    def audit(self) -> str:
        """Stream: every change a caller made to a subscription (capped), newest last."""
        return f"{self.base}:audit"
