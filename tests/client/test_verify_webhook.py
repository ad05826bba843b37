"""``verify_webhook`` accepts what the bridge signs and raises one exception, with a reason,
for every way a delivery can be wrong."""

from __future__ import annotations

import time

import pytest

from bridge.client import EventType
from bridge.client.models import TransactionData
from bridge.client.webhooks import WebhookVerificationError, verify_webhook
from bridge.delivery.signing import headers, new_secret
from bridge.events.samples import sample_event
from tests.support.config import ACCOUNT

SECRET = new_secret()


def delivery(
    kind: EventType = EventType.TRANSACTION_CONFIRMED, **over: object
) -> tuple[bytes, dict[str, str]]:
    event = sample_event(ACCOUNT, kind, "sub_" + "a" * 24)
    body = event.encode()
    stamp = int(over.get("stamp", time.time()))  # type: ignore[call-overload]
    return body, headers([SECRET], event.id, stamp, body)


@pytest.mark.parametrize("kind", list(EventType))
def test_a_signed_delivery_of_every_type_gives_the_typed_event(kind: EventType) -> None:
    body, sent = delivery(kind)
    event = verify_webhook(SECRET, body, sent)
    assert event.type is kind
    assert event.id == sent["webhook-id"]
    if kind.startswith("transaction."):
        assert isinstance(event.data, TransactionData)


def test_any_of_several_secrets_will_do_while_a_rotation_overlaps() -> None:
    body, sent = delivery()
    assert verify_webhook([new_secret(), SECRET], body, sent).id == sent["webhook-id"]


def reason_of(secret: str, body: bytes, sent: dict[str, str], **kw: float) -> str:
    with pytest.raises(WebhookVerificationError) as raised:
        verify_webhook(secret, body, sent, **kw)
    return raised.value.reason


def test_a_wrong_secret_or_changed_body_is_a_bad_signature() -> None:
    body, sent = delivery()
    assert reason_of(new_secret(), body, sent) == "bad_signature"
    assert reason_of(SECRET, body.replace(b"confirmed", b"declined"), sent) == "bad_signature"


def test_an_old_or_future_timestamp_is_refused_within_the_tolerance() -> None:
    body, sent = delivery(stamp=time.time() - 301)
    assert reason_of(SECRET, body, sent) == "stale"
    assert verify_webhook(SECRET, body, sent, tolerance=600).id == sent["webhook-id"]
    body, sent = delivery(stamp=time.time() + 400)
    assert reason_of(SECRET, body, sent) == "future"


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(name: str) -> None:
    body, sent = delivery()
    del sent[name]
    assert reason_of(SECRET, body, sent) == "missing_header"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-timestamp", "yesterday"),
        ("webhook-signature", "v1"),
        ("webhook-signature", "v1,not*base64"),
        ("webhook-signature", "v2,AAAA"),
    ],
)
def test_a_malformed_header_is_refused(name: str, value: str) -> None:
    body, sent = delivery()
    sent[name] = value
    assert reason_of(SECRET, body, sent) == "malformed_header"


def test_headers_are_matched_whatever_their_case() -> None:
    body, sent = delivery()
    upper = {k.upper(): v for k, v in sent.items()}
    assert verify_webhook(SECRET, body, upper).id == sent["webhook-id"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"id": "evt_x"}',
        b'{"id":"evt_x","type":"nope","createdAt":"t","account":"a","data":{}}',
        b"\xff\xfe",
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(body: bytes) -> None:
    sent = headers([SECRET], "evt_x", int(time.time()), body)
    assert reason_of(SECRET, body, sent) == "not_an_event"


def test_a_body_whose_id_is_not_the_webhook_id_is_refused() -> None:
    body, _ = delivery()
    sent = headers([SECRET], "evt_other", int(time.time()), body)
    assert reason_of(SECRET, body, sent) == "not_an_event"


def test_a_malformed_secret_is_the_callers_error_and_is_not_shown() -> None:
    body, sent = delivery()
    with pytest.raises(ValueError, match="not whsec_") as raised:
        verify_webhook("whsec_!!!", body, sent)
    assert "!!!" not in str(raised.value)
