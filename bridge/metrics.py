"""Prometheus metrics an operator needs to see, one registry per process.

Components receive a ``Metrics`` and record into it; ``/metrics`` exposes the registry.
Labels are bounded: endpoint names, HTTP statuses, event types and outcomes, never ids.
Backlog gauges (stream length, consumer-group lag, retry backlog, dead letters, watched
customers) are read from Redis when scraped, so every replica reports the shared truth.
"""

from __future__ import annotations

from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.exceptions import ResponseError

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.upstream_seconds = Histogram(
            "bridge_upstream_request_seconds",
            "Calypso request latency by endpoint and outcome (HTTP status, timeout, error).",
            ["endpoint", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.polls = Counter(
            "bridge_polls_total",
            "Customer polls by outcome (ok, failed, lost_lease).",
            ["outcome"],
            registry=r,
        )
        self.poll_seconds = Histogram(
            "bridge_poll_seconds",
            "Time to poll one customer.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.schedule_lag = Histogram(
            "bridge_poll_schedule_lag_seconds",
            "How late a poll started after its customer became due.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.polls_in_flight = Gauge(
            "bridge_polls_in_flight", "Polls running in this process.", registry=r
        )
        self.events = Counter(
            "bridge_events_total",
            "Events appended to the stream, by type.",
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "bridge_webhook_attempts_total",
            "Webhook delivery attempts by outcome (delivered, failed, timeout, error, gone).",
            ["outcome"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "bridge_webhook_attempt_seconds",
            "Time of one webhook attempt, connect to the end of the answer's prefix.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.dead_letters = Counter(
            "bridge_webhook_dead_letters_total",
            "Deliveries that used up every attempt.",
            registry=r,
        )
        self.secrets_unreadable = Counter(
            "bridge_secrets_unreadable_total",
            "Deliveries not sent because a stored signing secret did not open, by cause "
            "(unknown_key: its key is not in BRIDGE_SECRETS_KEYS; altered; not_sealed).",
            ["cause"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "bridge_webhook_delivery_latency_seconds",
            "From the event's append to the stream to its successful delivery.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.api_requests = Counter(
            "bridge_api_requests_total",
            "API requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.api_seconds = Histogram(
            "bridge_api_request_seconds",
            "API request latency by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stream_length = Gauge(
            "bridge_stream_length", "Entries in the event stream.", registry=r
        )
        self.group_lag = Gauge(
            "bridge_stream_group_lag",
            "Stream entries a consumer group has not read yet.",
            ["group"],
            registry=r,
        )
        self.group_pending = Gauge(
            "bridge_stream_group_pending",
            "Stream entries read by a consumer group but not acknowledged.",
            ["group"],
            registry=r,
        )
        self.retry_backlog = Gauge(
            "bridge_webhook_retry_backlog",
            "Deliveries waiting (first attempt or retry) across subscriptions.",
            registry=r,
        )
        self.dead_letter_count = Gauge(
            "bridge_webhook_dead_letter_queue", "Dead-lettered deliveries now.", registry=r
        )
        self.watched = Gauge(
            "bridge_watched_customers", "Customers the poller watches.", registry=r
        )
        self.inbound_hints = Counter(
            "bridge_inbound_webhooks_total",
            "Inbound Calypso webhooks by outcome (accepted, duplicate, bad_signature, invalid).",
            ["outcome"],
            registry=r,
        )

        self.intents_recovered = Counter(
            "bridge_intents_recovered_total",
            "API calls left unsettled (a crash, an unknown outcome) and settled by recovery: "
            "completed (the call took effect; its event written), dropped (it did not), "
            "unknown (a create without externalId, which cannot be looked up).",
            ["outcome"],
            registry=r,
        )

    async def refresh_backlog(self, redis: RedisClient, keys: Keys) -> None:
        """Read the shared backlog figures from Redis into their gauges."""
        subscriptions = [
            s.decode() for s in cast(list[bytes], await redis.hkeys(keys.subscriptions))
        ]
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.events)
            pipe.hlen(keys.watched)
            for subscription in subscriptions:
                pipe.zcard(keys.deliveries_due(subscription))
                pipe.hlen(keys.deliveries_dead(subscription))
            length, watched, *sizes = await pipe.execute()
        self.stream_length.set(length)
        self.watched.set(watched)
        self.retry_backlog.set(sum(sizes[0::2]))
        self.dead_letter_count.set(sum(sizes[1::2]))
        try:
            groups: list[dict[str, Any]] = await redis.xinfo_groups(keys.events)
        except ResponseError:  # no stream yet, so no groups
            groups = []
        for group in groups:
            name = _text(group.get("name"))
            self.group_pending.labels(name).set(int(group.get("pending") or 0))
            self.group_lag.labels(name).set(int(group.get("lag") or 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class UpstreamMetrics:
    """Implements :class:`bridge.calypso.hooks.UpstreamHooks`: latency by endpoint and outcome."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def before(self, endpoint: str) -> None:
        return None

    async def after(
        self, endpoint: str, outcome: str, seconds: float, retry_after: float | None
    ) -> None:
        self._metrics.upstream_seconds.labels(endpoint, outcome).observe(seconds)
