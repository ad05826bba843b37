"""The event catalog: one entry per event type, schemas from the structs, examples valid."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from bridge.events.catalog import catalog, entry, webhooks_section
from bridge.events.model import Event, EventType
from bridge.events.samples import example_event, sample_event
from bridge.events.typed import TYPED_EVENTS, TypedEvent, decode_typed
from tests.support.event_schemas import schema_problems

ACCOUNT = "0x" + "1a" * 20


def test_the_catalog_covers_every_event_type_once_and_nothing_else() -> None:
    assert [info.type for info in catalog()] == list(EventType)
    assert set(TYPED_EVENTS) == set(EventType)
    webhooks, _ = webhooks_section()
    assert set(webhooks) == {kind.value for kind in EventType}


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_every_schema_is_draft_2020_12_and_its_example_validates(kind: EventType) -> None:
    info = entry(kind)
    Draft202012Validator.check_schema(info.schema)
    Draft202012Validator(info.schema).validate(info.example)
    assert info.schema["properties"]["type"] == {"const": kind.value}
    assert info.description


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_the_example_carries_the_data_of_the_test_sample(kind: EventType) -> None:
    sample = sample_event(ACCOUNT, kind, "sub_" + "a" * 24)
    assert sample.data == example_event(kind).data
    assert schema_problems(sample.encode()) == []


def test_a_type_schema_refuses_another_types_data() -> None:
    confirmed = entry(EventType.TRANSACTION_CONFIRMED).example
    customer = entry(EventType.CUSTOMER_CREATED).example
    assert schema_problems({**confirmed, "data": customer["data"]})
    assert schema_problems({**confirmed, "type": "transaction.unknown"})
    assert schema_problems({**confirmed, "account": "0xnot-an-account"})


def test_the_typed_envelope_has_the_fields_of_the_event_the_bridge_writes() -> None:
    def shape(cls: Any) -> list[tuple[str, bool]]:
        return sorted((f.encode_name, f.required) for f in msgspec.structs.fields(cls))

    typed = [*shape(TypedEvent), ("type", True)]
    assert sorted(typed) == shape(Event)


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_an_event_decodes_as_its_types_struct(kind: EventType) -> None:
    event = sample_event(ACCOUNT, kind, "sub_" + "a" * 24)
    typed = decode_typed(event.encode())
    assert type(typed) is TYPED_EVENTS[kind]
    assert typed.data == event.data
    assert typed.test is True


def test_webhook_components_do_not_replace_the_apis() -> None:
    _, components = webhooks_section()
    assert all(name.startswith("Webhook") for name in components)
