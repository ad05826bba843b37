"""Prometheus metrics an operator needs to see, one registry per process.

Components receive a ``Metrics`` and record into it; ``/metrics`` exposes the registry.
Labels are bounded: endpoint names, HTTP statuses, event types and outcomes, never ids,
and the ``account`` of every metric about one Calypso account (the configured accounts are
few). An account's components record through :meth:`Metrics.for_account`, a view that
fills that label in; the API's own request metrics are the process's.
Backlog gauges (stream length, consumer-group lag, retry backlog, dead letters, watched
customers) are read from Redis when scraped, so every replica reports the shared truth.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.exceptions import ResponseError

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["AccountMetric", "Metrics"]

# Every metric about one account carries this label first.
ACCOUNT = "account"


class AccountMetric:
    """A metric family labelled ``account`` first, seen from one account: ``labels(...)``
    takes the other labels only, and a family with no others records directly."""

    def __init__(self, family: Any, account: str) -> None:
        self._family = family
        self._account = account

    def labels(self, *values: str) -> Any:
        return self._family.labels(self._account, *values)

    def inc(self, amount: float = 1.0) -> None:
        self._family.labels(self._account).inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._family.labels(self._account).dec(amount)

    def set(self, value: float) -> None:
        self._family.labels(self._account).set(value)

    def observe(self, value: float) -> None:
        self._family.labels(self._account).observe(value)


_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, account: str = "") -> None:
        self.registry = registry or CollectorRegistry()
        # The root records an account's metrics under account="" (tests); components record
        # through their account's view (for_account).
        self.account = account
        self._views: dict[str, Metrics] = {}
        r = self.registry
        self.upstream_seconds = self._family(
            Histogram(
                "bridge_upstream_request_seconds",
                "Calypso request latency by endpoint and outcome (HTTP status, timeout, error).",
                [ACCOUNT, "endpoint", "outcome"],
                buckets=_LATENCY_BUCKETS,
                registry=r,
            )
        )
        self.polls = self._family(
            Counter(
                "bridge_polls_total",
                "Customer polls by outcome (ok, failed, lost_lease).",
                [ACCOUNT, "outcome"],
                registry=r,
            )
        )
        self.poll_seconds = self._family(
            Histogram(
                "bridge_poll_seconds",
                "Time to poll one customer.",
                buckets=_LATENCY_BUCKETS,
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.schedule_lag = self._family(
            Histogram(
                "bridge_poll_schedule_lag_seconds",
                "How late a poll started after its customer became due.",
                buckets=_LAG_BUCKETS,
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.polls_in_flight = self._family(
            Gauge(
                "bridge_polls_in_flight",
                "Polls running in this process.",
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.events = self._family(
            Counter(
                "bridge_events_total",
                "Events appended to the stream, by type.",
                [ACCOUNT, "type"],
                registry=r,
            )
        )
        self.deliveries = self._family(
            Counter(
                "bridge_webhook_attempts_total",
                "Webhook delivery attempts by outcome (delivered, failed, timeout, error, gone).",
                [ACCOUNT, "outcome"],
                registry=r,
            )
        )
        self.delivery_seconds = self._family(
            Histogram(
                "bridge_webhook_attempt_seconds",
                "Time of one webhook attempt, connect to the end of the answer's prefix.",
                buckets=_LATENCY_BUCKETS,
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.dead_letters = self._family(
            Counter(
                "bridge_webhook_dead_letters_total",
                "Deliveries that used up every attempt.",
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.secrets_unreadable = self._family(
            Counter(
                "bridge_secrets_unreadable_total",
                "Deliveries not sent because a stored signing secret did not open, by cause "
                "(unknown_key: its key is not in BRIDGE_SECRETS_KEYS; altered; not_sealed).",
                [ACCOUNT, "cause"],
                registry=r,
            )
        )
        self.delivery_latency = self._family(
            Histogram(
                "bridge_webhook_delivery_latency_seconds",
                "From the event's append to the stream to its successful delivery.",
                buckets=_LAG_BUCKETS,
                labelnames=[ACCOUNT],
                registry=r,
            )
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
        self.stream_length = self._family(
            Gauge(
                "bridge_stream_length",
                "Entries in the event stream.",
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.group_lag = self._family(
            Gauge(
                "bridge_stream_group_lag",
                "Stream entries a consumer group has not read yet.",
                [ACCOUNT, "group"],
                registry=r,
            )
        )
        self.group_pending = self._family(
            Gauge(
                "bridge_stream_group_pending",
                "Stream entries read by a consumer group but not acknowledged.",
                [ACCOUNT, "group"],
                registry=r,
            )
        )
        self.retry_backlog = self._family(
            Gauge(
                "bridge_webhook_retry_backlog",
                "Deliveries waiting (first attempt or retry) across subscriptions.",
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.dead_letter_count = self._family(
            Gauge(
                "bridge_webhook_dead_letter_queue",
                "Dead-lettered deliveries now.",
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.watched = self._family(
            Gauge(
                "bridge_watched_customers",
                "Customers the poller watches.",
                labelnames=[ACCOUNT],
                registry=r,
            )
        )
        self.inbound_hints = self._family(
            Counter(
                "bridge_inbound_webhooks_total",
                "Inbound Calypso webhooks by outcome "
                "(accepted, duplicate, bad_signature, invalid).",
                [ACCOUNT, "outcome"],
                registry=r,
            )
        )

        self.intents_recovered = self._family(
            Counter(
                "bridge_intents_recovered_total",
                "API calls left unsettled (a crash, an unknown outcome) and settled by recovery: "
                "completed (the call took effect; its event written), dropped (it did not), "
                "unknown (a create without externalId, which cannot be looked up).",
                [ACCOUNT, "outcome"],
                registry=r,
            )
        )

    def _family(self, family: Any) -> AccountMetric:
        return AccountMetric(family, self.account)

    def for_account(self, account: str) -> Metrics:
        """The same metrics (one registry), recording with ``account`` as their label."""
        account = account.lower()
        if account not in self._views:
            view = copy.copy(self)
            view.account = account
            view._views = self._views
            for name, value in vars(self).items():
                if isinstance(value, AccountMetric):
                    setattr(view, name, AccountMetric(value._family, account))
            self._views[account] = view
        return self._views[account]

    async def refresh_backlog(self, redis: RedisClient, keys: Keys) -> None:
        """Read the shared backlog figures of ``keys``'s account from Redis into their gauges."""
        if keys.account != self.account:
            await self.for_account(keys.account).refresh_backlog(redis, keys)
            return
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
