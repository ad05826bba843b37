"""Every ``/v1`` operation of the bridge, described once for both clients.

Each is a route and a function from the caller's arguments to a :class:`Request`; the names
are the client's method names. Paged routes have two: ``list_…`` answers one page (with the
cursor of the next), ``iter_…`` walks them all. A test keeps this module equal to the
committed OpenAPI document, both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from bridge.client import models as m
from bridge.client.calls import Page, Query, Request, as_json, operation, pages
from bridge.events.catalog import EventTypeInfo
from bridge.events.model import Event, EventType

_encode = msgspec.json.encode


def _body(**fields: object) -> bytes:
    """A JSON object of the fields the caller gave (None means "not given")."""
    return _encode({k: v for k, v in fields.items() if v is not None})


class _RawEventPage(msgspec.Struct, frozen=True):
    items: list[msgspec.Raw]
    nextCursor: str | None = None


_raw_events = msgspec.json.Decoder(_RawEventPage)


def _event_page(raw: bytes) -> m.EventPage:
    # ``data`` is untagged: each item is decoded by its envelope's ``type``.
    page = _raw_events.decode(raw)
    return m.EventPage([Event.decode(bytes(item)) for item in page.items], page.nextCursor)


def _events(raw: bytes) -> Page[Event]:
    page = _event_page(raw)
    return Page(page.items, page.nextCursor)


def _attempts(raw: bytes) -> Page[m.Attempt]:
    page = _attempt_page(raw)
    return Page(page.items, page.nextCursor)


def _audits(raw: bytes) -> Page[m.AuditEntry]:
    page = _audit_page(raw)
    return Page(page.items, page.nextCursor)


def _transactions(raw: bytes) -> Page[m.TransactionView]:
    page = _transaction_page(raw)
    following = str(page.page + 1) if page.page < page.totalPages else None
    return Page(page.items, following)


_attempt_page = as_json(m.AttemptPage)
_audit_page = as_json(m.AuditPage)
_transaction_page = as_json(m.TransactionPage)
_customer = as_json(m.CustomerView)
_queued = as_json(m.Queued)
_watch = as_json(m.WatchStatus)
_subscription = as_json(m.Subscription)
_inbound = as_json(m.InboundAccepted)


def _nothing(raw: bytes) -> None:
    return None


# Customers


@operation("POST", "/v1/customers")
def create_customer(
    *,
    external_id: str | None = None,
    email: str | None = None,
    description: str | None = None,
    idempotency_key: str | None = None,
) -> Request[m.CustomerView]:
    """Create a customer; one with the same ``external_id`` is returned instead of a twin."""
    body = _body(externalId=external_id, email=email, description=description)
    return Request(_customer, body=body, creates=True, idempotency_key=idempotency_key)


@operation("GET", "/v1/customers")
def find_customers(external_id: str) -> Request[m.CustomerList]:
    """The customers with this external id (none or one)."""
    return Request(as_json(m.CustomerList), query={"externalId": external_id})


@operation("GET", "/v1/customers/{customer_id}")
def get_customer(customer_id: str) -> Request[m.CustomerView]:
    return Request(_customer, path={"customer_id": customer_id})


@operation("PATCH", "/v1/customers/{customer_id}")
def update_customer(
    customer_id: str, *, email: str | None = None, description: str | None = None
) -> Request[m.CustomerView]:
    body = _body(email=email, description=description)
    return Request(_customer, path={"customer_id": customer_id}, body=body)


@operation("POST", "/v1/customers/{customer_id}/block")
def block_customer(customer_id: str) -> Request[m.CustomerView]:
    return Request(_customer, path={"customer_id": customer_id})


@operation("POST", "/v1/customers/{customer_id}/unblock")
def unblock_customer(customer_id: str) -> Request[m.CustomerView]:
    return Request(_customer, path={"customer_id": customer_id})


@operation("POST", "/v1/customers/{customer_id}/addresses")
def issue_address(
    customer_id: str, currency: str, *, idempotency_key: str | None = None
) -> Request[m.PurseView]:
    """The customer's deposit address for ``currency``; the customer is watched from then on."""
    return Request(
        as_json(m.PurseView),
        path={"customer_id": customer_id},
        body=_body(currency=currency),
        creates=True,
        idempotency_key=idempotency_key,
    )


@operation("GET", "/v1/customers/{customer_id}/purses")
def list_purses(customer_id: str) -> Request[m.PurseList]:
    return Request(as_json(m.PurseList), path={"customer_id": customer_id})


def _transaction_query(
    page: int | None,
    page_size: int | None,
    currency: str | None,
    state: str | None,
    order: str | None,
) -> dict[str, str | int | None]:
    return {
        "page": page,
        "pageSize": page_size,
        "currency": currency,
        "state": state,
        "order": order,
    }


@operation("GET", "/v1/customers/{customer_id}/transactions")
def list_transactions(
    customer_id: str,
    *,
    page: int | None = None,
    page_size: int | None = None,
    currency: str | None = None,
    state: str | None = None,
    order: str | None = None,
) -> Request[m.TransactionPage]:
    """One page of the customer's transactions, as Calypso numbers them."""
    query = _transaction_query(page, page_size, currency, state, order)
    return Request(_transaction_page, path={"customer_id": customer_id}, query=query)


@pages("GET", "/v1/customers/{customer_id}/transactions")
def iter_transactions(
    position: str | None,
    customer_id: str,
    *,
    page_size: int | None = None,
    currency: str | None = None,
    state: str | None = None,
    order: str | None = None,
) -> Request[Page[m.TransactionView]]:
    """Every transaction of the customer, page after page."""
    page = int(position) if position else None
    query = _transaction_query(page, page_size, currency, state, order)
    return Request(_transactions, path={"customer_id": customer_id}, query=query)


@operation("GET", "/v1/transactions/{transaction_id}")
def get_transaction(transaction_id: str) -> Request[m.TransactionView]:
    return Request(as_json(m.TransactionView), path={"transaction_id": transaction_id})


# Watching


@operation("PUT", "/v1/customers/{customer_id}/watch")
def watch(customer_id: str) -> Request[m.WatchStatus]:
    """Start polling a customer created elsewhere."""
    return Request(_watch, path={"customer_id": customer_id})


@operation("DELETE", "/v1/customers/{customer_id}/watch")
def unwatch(customer_id: str) -> Request[m.WatchStatus]:
    return Request(_watch, path={"customer_id": customer_id})


@operation("GET", "/v1/customers/{customer_id}/watch")
def watch_status(customer_id: str) -> Request[m.WatchStatus]:
    return Request(_watch, path={"customer_id": customer_id})


# Events


def _event_query(
    cursor: str | None,
    limit: int | None,
    types: Sequence[EventType | str] | None,
    customer_id: str | None,
    order: str | None,
) -> dict[str, str | int | Sequence[str] | None]:
    return {
        "cursor": cursor,
        "limit": limit,
        "type": [str(t) for t in types] if types else None,
        "customerId": customer_id,
        "order": order,
    }


@operation("GET", "/v1/events")
def list_events(
    *,
    cursor: str | None = None,
    limit: int | None = None,
    types: Sequence[EventType | str] | None = None,
    customer_id: str | None = None,
    order: str | None = None,
) -> Request[m.EventPage]:
    """One page of the event log, events decoded by type."""
    return Request(_event_page, query=_event_query(cursor, limit, types, customer_id, order))


@pages("GET", "/v1/events")
def iter_events(
    position: str | None,
    *,
    limit: int | None = None,
    types: Sequence[EventType | str] | None = None,
    customer_id: str | None = None,
    order: str | None = None,
) -> Request[Page[Event]]:
    """Every retained event matching the filters, newest first unless ``order="asc"``."""
    return Request(_events, query=_event_query(position, limit, types, customer_id, order))


class _EventTypeList(msgspec.Struct, frozen=True):
    items: list[EventTypeInfo]


_event_types = msgspec.json.Decoder(_EventTypeList)


@operation("GET", "/v1/event-types")
def list_event_types() -> Request[list[EventTypeInfo]]:
    """The event catalog: every type with its description, JSON Schema and an example."""
    return Request(lambda raw: _event_types.decode(raw).items)


@operation("GET", "/v1/event-types/{type_name}")
def get_event_type(type_name: EventType | str) -> Request[EventTypeInfo]:
    return Request(msgspec.json.Decoder(EventTypeInfo).decode, path={"type_name": str(type_name)})


def _server_sent_events(raw: bytes) -> list[m.StreamedEvent]:
    """The events of a finished Server-Sent Events body (comment lines are keep-alives)."""
    found: list[m.StreamedEvent] = []
    for frame in raw.decode().replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in frame.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if "id" in fields and "data" in fields:
            event = Event.decode("\n".join(fields["data"]).encode())
            found.append(m.StreamedEvent(fields["id"][-1], event))
    return found


@operation("GET", "/v1/events/stream")
def read_event_stream(
    *,
    after: str = "0",
    wait: int = 1,
    types: Sequence[EventType | str] | None = None,
    customer_id: str | None = None,
) -> Request[list[m.StreamedEvent]]:
    """The events after ``after`` (a position of an earlier call, or ``"0"``: the oldest kept)
    and those arriving within ``wait`` seconds: the stream read for a bounded time, for
    scripts; a position with a gap after it is a 410 problem. Long-lived readers use an SSE
    client on the route itself, or :class:`~bridge.client.EventConsumer`."""
    query: Query = {
        "after": after,
        "wait": wait,
        "type": [str(t) for t in types] if types else None,
        "customerId": customer_id,
    }
    return Request(_server_sent_events, query=query)


@operation("GET", "/v1/events/{event_id}")
def get_event(event_id: str) -> Request[Event]:
    return Request(Event.decode, path={"event_id": event_id})


@operation("POST", "/v1/events/{event_id}/redeliver")
def redeliver(event_id: str, *, subscription_id: str | None = None) -> Request[m.Queued]:
    """Deliver one event again, to every subscription that wants it or only to one."""
    return Request(_queued, path={"event_id": event_id}, body=_body(subscriptionId=subscription_id))


# Subscriptions


@operation("POST", "/v1/subscriptions")
def create_subscription(
    url: str,
    *,
    event_types: Sequence[EventType | str] | None = None,
    customer_ids: Sequence[str] | None = None,
    description: str | None = None,
    ordering: str | None = None,
    idempotency_key: str | None = None,
) -> Request[m.SubscriptionWithSecret]:
    """A new subscription; its ``secret`` is shown in full only in this answer."""
    body = _body(
        url=url,
        eventTypes=[str(t) for t in event_types] if event_types is not None else None,
        customerIds=list(customer_ids) if customer_ids is not None else None,
        description=description,
        ordering=ordering,
    )
    return Request(
        as_json(m.SubscriptionWithSecret), body=body, creates=True, idempotency_key=idempotency_key
    )


@operation("GET", "/v1/subscriptions")
def list_subscriptions() -> Request[m.SubscriptionList]:
    return Request(as_json(m.SubscriptionList))


@operation("GET", "/v1/subscriptions/{subscription_id}")
def get_subscription(subscription_id: str) -> Request[m.Subscription]:
    return Request(_subscription, path={"subscription_id": subscription_id})


@operation("PATCH", "/v1/subscriptions/{subscription_id}")
def update_subscription(
    subscription_id: str,
    *,
    url: str | None = None,
    event_types: Sequence[EventType | str] | None = None,
    customer_ids: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    ordering: str | None = None,
) -> Request[m.Subscription]:
    """Change what is given; ``enabled=False`` pauses deliveries, ``True`` resumes them."""
    body = _body(
        url=url,
        eventTypes=[str(t) for t in event_types] if event_types is not None else None,
        customerIds=list(customer_ids) if customer_ids is not None else None,
        description=description,
        enabled=enabled,
        ordering=ordering,
    )
    return Request(_subscription, path={"subscription_id": subscription_id}, body=body)


@operation("DELETE", "/v1/subscriptions/{subscription_id}")
def delete_subscription(subscription_id: str) -> Request[None]:
    return Request(_nothing, path={"subscription_id": subscription_id})


@operation("POST", "/v1/subscriptions/{subscription_id}/rotate-secret")
def rotate_secret(subscription_id: str) -> Request[m.RotatedSecret]:
    """A new secret; the old one keeps signing beside it for 24 h."""
    return Request(as_json(m.RotatedSecret), path={"subscription_id": subscription_id})


@operation("POST", "/v1/subscriptions/{subscription_id}/test")
def send_test(subscription_id: str, type: EventType | str | None = None) -> Request[m.Queued]:
    """Send a ``ping`` now, or a signed sample of ``type`` marked ``"test": true``."""
    body = _body(type=str(type) if type is not None else None)
    return Request(_queued, path={"subscription_id": subscription_id}, body=body)


@operation("POST", "/v1/subscriptions/{subscription_id}/replay")
def replay(subscription_id: str, since: datetime | str) -> Request[m.Queued]:
    """Deliver again every matching event since ``since`` (an aware datetime or RFC 3339)."""
    moment = since.isoformat() if isinstance(since, datetime) else since
    return Request(_queued, path={"subscription_id": subscription_id}, body=_body(since=moment))


@operation("GET", "/v1/subscriptions/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: str, *, cursor: str | None = None, limit: int | None = None
) -> Request[m.AttemptPage]:
    """One page of the subscription's attempt log, newest first."""
    query = {"cursor": cursor, "limit": limit}
    return Request(_attempt_page, path={"subscription_id": subscription_id}, query=query)


@pages("GET", "/v1/subscriptions/{subscription_id}/deliveries")
def iter_deliveries(
    position: str | None, subscription_id: str, *, limit: int | None = None
) -> Request[Page[m.Attempt]]:
    query = {"cursor": position, "limit": limit}
    return Request(_attempts, path={"subscription_id": subscription_id}, query=query)


@operation("GET", "/v1/subscriptions/{subscription_id}/dead-letters")
def list_dead_letters(subscription_id: str) -> Request[m.DeadLetterList]:
    return Request(as_json(m.DeadLetterList), path={"subscription_id": subscription_id})


# Audit


@operation("GET", "/v1/audit")
def list_audit(*, cursor: str | None = None, limit: int | None = None) -> Request[m.AuditPage]:
    """One page of the audit trail (replays, redeliveries, rotations…), newest first."""
    return Request(_audit_page, query={"cursor": cursor, "limit": limit})


@pages("GET", "/v1/audit")
def iter_audit(position: str | None, *, limit: int | None = None) -> Request[Page[m.AuditEntry]]:
    return Request(_audits, query={"cursor": position, "limit": limit})


# Inbound Calypso webhooks (what Calypso itself calls; here for forwarding and tests)


@operation("POST", "/v1/calypso/webhooks")
def forward_calypso_webhook(body: bytes, sign: str) -> Request[m.InboundAccepted]:
    """Hand the bridge a Calypso webhook as received (raw body and its ``Sign`` header)."""
    return Request(_inbound, body=body, headers={"Sign": sign})


@operation("POST", "/v1/calypso/webhooks/{account}")
def forward_calypso_webhook_of_account(
    account: str, body: bytes, sign: str
) -> Request[m.InboundAccepted]:
    """The same, for one account of a bridge serving several."""
    return Request(_inbound, path={"account": account}, body=body, headers={"Sign": sign})
