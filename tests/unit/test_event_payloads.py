"""Every event decodes to the typed payload of its family and encodes back to the same bytes."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from bridge.calypso import models
from bridge.events.build import address_expired, address_issued, customer_event, transaction_events
from bridge.events.model import PAYLOADS, Event, EventType, Snapshot
from bridge.events.payloads import AddressData, CustomerData, PingData, TransactionData
from bridge.events.samples import sample_event
from bridge.views import CustomerView, PurseView, TransactionView

ACCOUNT = "0x" + "1a" * 20
CUSTOMER = "6a1f0c7e-52b2-4c1c-9f43-1f1f5f0f7d2a"
TX = models.Transaction(
    id="0b9c1d52-8f5e-4c3a-9d7e-2f4a6b8c0d1e",
    amount=Decimal("1E-7"),
    addressFrom="0xabc",
    currency="ETH",
    transactionState=models.TransactionState.CONFIRMED,
    complianceState=models.ComplianceState.CHECKED,
    translationToAccountCompleted=True,
    createdDate="2026-11-26T17:40:01.123Z",
)
PURSE = models.Purse(
    id="5d7c2a10-3b4e-4f6a-8c9d-0e1f2a3b4c5d",
    address="0xdef",
    currencies=["ETH", "USDT_ERC20"],
    createdDate="2026-11-26T17:00:00Z",
)
FAMILY = {
    "transaction.": TransactionData,
    "customer.": CustomerData,
    "deposit_address.": AddressData,
    "ping": PingData,
}


def built_events() -> list[Event]:
    """One event of every type the bridge records (ping exists only as a sample)."""
    first = (EventType.TRANSACTION_MEM_POOL_FOUND,)
    seen = Snapshot(
        models.TransactionState.MEM_POOL_FOUND, models.ComplianceState.UNCHECKED, False, 1
    )
    later = tuple(k for k in EventType if k.startswith("transaction."))
    customer = models.Customer(id=CUSTOMER, blocked=True, externalId="user-42")
    return [
        *transaction_events(ACCOUNT, CUSTOMER, TX, None, first),
        *transaction_events(ACCOUNT, CUSTOMER, TX, seen, later),
        *(customer_event(ACCOUNT, k, customer) for k in EventType if k.startswith("customer.")),
        address_issued(ACCOUNT, CUSTOMER, PURSE),
        address_expired(ACCOUNT, CUSTOMER, PURSE.id, PURSE.address),
    ]


@pytest.mark.parametrize("event", built_events(), ids=lambda e: str(e.type))
def test_a_built_event_round_trips_through_its_typed_payload(event: Event) -> None:
    raw = event.encode()
    decoded = Event.decode(raw)
    assert decoded == event
    assert type(decoded.data) is PAYLOADS[event.type]
    assert decoded.encode() == raw


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_every_sample_event_round_trips_through_its_typed_payload(kind: EventType) -> None:
    raw = sample_event(ACCOUNT, kind, "sub_" + "a" * 24).encode()
    decoded = Event.decode(raw)
    family = next(t for prefix, t in FAMILY.items() if kind.startswith(prefix))
    assert type(decoded.data) is family
    assert decoded.test is True
    assert decoded.encode() == raw


def test_every_event_type_has_a_payload() -> None:
    assert set(PAYLOADS) == set(EventType)


def test_the_envelope_keeps_its_field_order_and_amounts_stay_strings() -> None:
    (event,) = transaction_events(ACCOUNT, CUSTOMER, TX, None, (EventType.TRANSACTION_CONFIRMED,))
    event = msgspec.structs.replace(event, createdAt="2026-11-26T17:40:02.000Z")
    assert event.encode() == (
        b'{"id":"' + event.id.encode() + b'","type":"transaction.confirmed",'
        b'"createdAt":"2026-11-26T17:40:02.000Z","account":"' + ACCOUNT.encode() + b'",'
        b'"data":{"customerId":"' + CUSTOMER.encode() + b'","transaction":{'
        b'"id":"0b9c1d52-8f5e-4c3a-9d7e-2f4a6b8c0d1e","amount":"0.0000001","currency":"ETH",'
        b'"addressFrom":"0xabc","transactionState":"CONFIRMED","complianceState":"CHECKED",'
        b'"translationToAccountCompleted":true,"createdDate":"2026-11-26T17:40:01.123Z",'
        b'"transactionHash":null},"previous":null,"sequence":1}}'
    )


def test_an_expired_address_knows_only_the_purse_and_its_address() -> None:
    event = address_expired(ACCOUNT, CUSTOMER, PURSE.id, PURSE.address)
    decoded = Event.decode(event.encode())
    assert decoded.data == AddressData(CUSTOMER, PurseView.expired(PURSE.id, PURSE.address))
    assert (
        b'"purse":{"id":"'
        + PURSE.id.encode()
        + b'","address":"0xdef",'
        + (b'"currencies":null,"createdDate":null}')
        in event.encode()
    )


def test_the_customer_of_an_event_is_its_data_s_and_a_ping_has_none() -> None:
    for event in built_events():
        assert event.customer_id() == CUSTOMER
    assert sample_event(ACCOUNT, EventType.PING, "sub_x").customer_id() is None


def test_data_that_does_not_fit_its_type_is_refused() -> None:
    ping = sample_event(ACCOUNT, EventType.PING, "sub_x").encode()
    with pytest.raises(msgspec.ValidationError):
        Event.decode(ping.replace(b'"type":"ping"', b'"type":"customer.updated"'))
    with pytest.raises(msgspec.ValidationError):
        Event.decode(ping.replace(b'"type":"ping"', b'"type":"customer.merged"'))


def test_views_name_the_customer_in_api_answers_but_not_in_events() -> None:
    assert b"customerId" not in msgspec.json.encode(TransactionView.of(TX))
    assert (
        msgspec.json.decode(msgspec.json.encode(TransactionView.of(TX, None)))["customerId"] is None
    )
    assert b'"customerId":"' + CUSTOMER.encode() + b'"' in msgspec.json.encode(
        PurseView.of(PURSE, CUSTOMER)
    )
    assert b"customerId" not in msgspec.json.encode(PurseView.of(PURSE))
    view = CustomerView.of(models.Customer(CUSTOMER, False, email="ada@example.com"))
    assert msgspec.json.encode(view) == (
        b'{"id":"' + CUSTOMER.encode() + b'","blocked":false,"externalId":null,'
        b'"email":"ada@example.com","description":null}'
    )
