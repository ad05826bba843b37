"""Prometheus metrics an operator needs to see, one registry per process.

Components receive a ``Metrics`` and record into it; ``/metrics`` exposes the registry.
Labels are bounded: endpoint names, HTTP statuses, event types and outcomes, never ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        self.inbound_hints = Counter(
            "bridge_inbound_webhooks_total",
            "Inbound Calypso webhooks by outcome (accepted, duplicate, bad_signature, invalid).",
            ["outcome"],
            registry=r,
        )
