"""Standard Webhooks signatures: the published vector, the reference verifier, failing closed."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.delivery import signing

# The example from the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"type":"transfer.completed","data":{"amount":"12.50"}}'


def now() -> int:
    return int(time.time())


def test_the_specification_example_signs_to_the_published_signature() -> None:
    assert signing.sign([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_specification_example_verifies() -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)


def test_headers_carry_id_integer_timestamp_and_signature() -> None:
    headers = signing.headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_the_reference_library_accepts_our_signature() -> None:
    secret = signing.new_secret()
    headers = signing.headers([secret], "evt_1", now(), BODY)
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "transfer.completed",
        "data": {"amount": "12.50"},
    }


def test_during_a_rotation_each_secret_alone_verifies_the_two_signature_header() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.headers([old, new], "evt_2", now(), BODY)
    assert headers["webhook-signature"].count(" ") == 1
    assert all(part.startswith("v1,") for part in headers["webhook-signature"].split(" "))
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        assert signing.verify(secret, headers, BODY)
    stranger = signing.new_secret()
    assert not signing.verify(stranger, headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)


def test_the_exact_body_bytes_are_signed_not_a_reserialisation() -> None:
    spaced = b'{ "a" : 1 }'
    headers = signing.headers([SPEC_SECRET], "evt_3", now(), spaced)
    assert signing.verify(SPEC_SECRET, headers, spaced)
    assert not signing.verify(SPEC_SECRET, headers, b'{"a":1}')


def test_a_tampered_body_fails_here_and_in_the_reference_library() -> None:
    headers = signing.headers([SPEC_SECRET], "evt_4", now(), BODY)
    tampered = BODY.replace(b"12.50", b"99.50")
    assert not signing.verify(SPEC_SECRET, headers, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(SPEC_SECRET).verify(tampered, headers)


@pytest.mark.parametrize("offset", [-301, -3600, 301, 3600])
def test_a_timestamp_beyond_five_minutes_fails_here_and_in_the_reference_library(
    offset: int,
) -> None:
    headers = signing.headers([SPEC_SECRET], "evt_5", now() + offset, BODY)
    assert not signing.verify(SPEC_SECRET, headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SPEC_SECRET).verify(BODY, headers)


def test_tolerance_is_inclusive_and_configurable() -> None:
    headers = signing.headers([SPEC_SECRET], "evt_6", 1000, BODY)
    assert signing.verify(SPEC_SECRET, headers, BODY, now=1300)
    assert not signing.verify(SPEC_SECRET, headers, BODY, now=1301)
    assert signing.verify(SPEC_SECRET, headers, BODY, now=1301, tolerance=301)


def test_header_names_are_matched_case_insensitively() -> None:
    headers = signing.headers([SPEC_SECRET], "evt_7", now(), BODY)
    shouting = {name.upper(): value for name, value in headers.items()}
    assert signing.verify(SPEC_SECRET, shouting, BODY)


def test_any_matching_v1_entry_is_enough() -> None:
    good = signing.sign([SPEC_SECRET], "evt_8", 1000, BODY)
    headers = {
        "webhook-id": "evt_8",
        "webhook-timestamp": "1000",
        "webhook-signature": f"v2,abc v1,{'A' * 44} garbage {good}",
    }
    assert signing.verify(SPEC_SECRET, headers, BODY, now=1000)


@pytest.mark.parametrize(
    "signature",
    [
        "v1",
        "v2,abc",
        "v1,not*base64!",
        "v1,@@@@",
        "v1,",
        "",
        " ",
        ",",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",  # truncated, bad padding
        "v1,ü",
        "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",  # the version is case-sensitive
    ],
)
def test_malformed_signatures_are_a_failure_not_an_exception(signature: str) -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": signature,
    }
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP) is False


@pytest.mark.parametrize("timestamp", ["", "abc", "1614265330.0", "-1614265330", "1e9", "١٢٣"])
def test_a_timestamp_that_is_not_integer_seconds_fails(timestamp: str) -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": timestamp,
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP) is False


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_fails(missing: str) -> None:
    headers = signing.headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    del headers[missing]
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP) is False


def test_an_unusable_secret_fails_verification_instead_of_raising() -> None:
    headers = signing.headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert signing.verify("whsec_***", headers, SPEC_BODY, now=SPEC_TIMESTAMP) is False
    assert signing.verify("whsec_", headers, SPEC_BODY, now=SPEC_TIMESTAMP) is False


def test_new_secrets_are_distinct_whsec_strings_of_24_random_bytes() -> None:
    secrets = {signing.new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(signing.secret_bytes(secret)) == 24
        assert base64.b64decode(secret.removeprefix("whsec_")) == signing.secret_bytes(secret)


def test_secret_bytes_accepts_missing_padding_and_refuses_garbage() -> None:
    assert signing.secret_bytes("whsec_YWJj") == b"abc"
    assert signing.secret_bytes("whsec_YWI") == b"ab"
    assert signing.secret_bytes("YWJj") == b"abc"
    for bad in ("whsec_", "whsec_***", "whsec_YW Jj", "whsec_Y"):
        with pytest.raises(ValueError, match="webhook secret"):
            signing.secret_bytes(bad)


def test_sign_refuses_a_lone_string_and_an_empty_list() -> None:
    with pytest.raises(TypeError):
        signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(ValueError, match="at least one"):
        signing.sign([], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)


@given(
    body=st.binary(max_size=2048),
    msg_id=st.text(min_size=1, max_size=64).filter(lambda s: s.strip() == s),
    timestamp=st.integers(min_value=0, max_value=4_000_000_000),
    rotating=st.booleans(),
)
def test_sign_then_verify_round_trips(
    body: bytes, msg_id: str, timestamp: int, rotating: bool
) -> None:
    secrets = [SPEC_SECRET, "whsec_" + base64.b64encode(b"x" * 32).decode()]
    headers = signing.headers(secrets if rotating else secrets[:1], msg_id, timestamp, body)
    assert signing.verify(SPEC_SECRET, headers, body, now=timestamp)
    assert signing.verify(secrets[1], headers, body, now=timestamp) is rotating
    assert not signing.verify(SPEC_SECRET, headers, body + b"!", now=timestamp)


@given(body=st.binary(max_size=512), msg_id=st.from_regex(r"evt_[A-Za-z0-9]{1,32}", fullmatch=True))
def test_the_reference_library_verifies_what_we_sign(body: bytes, msg_id: str) -> None:
    # The reference library decodes the body as UTF-8 before checking, so give it text.
    text = body.decode("utf-8", "replace").encode()
    headers = signing.headers([SPEC_SECRET], msg_id, now(), text)
    Webhook(SPEC_SECRET).verify(text, headers, json_parse=False)


@given(signature=st.text(max_size=200), stamp=st.text(max_size=20))
def test_verify_never_raises_on_arbitrary_header_values(signature: str, stamp: str) -> None:
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": stamp, "webhook-signature": signature}
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP) is False
