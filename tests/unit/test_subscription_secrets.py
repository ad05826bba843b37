"""Which secrets sign a subscription's webhooks at a given moment."""

from __future__ import annotations

import msgspec

from bridge.delivery.subscriptions import PreviousSecret, Subscription


def subscription(**fields: object) -> Subscription:
    plain = Subscription(
        id="sub_x", url="https://example.com/", secret="whsec_new", createdAt=0, updatedAt=0
    )
    return msgspec.structs.replace(plain, **fields)


def test_every_previous_secret_signs_until_its_own_overlap_ends_newest_first() -> None:
    s = subscription(
        previousSecrets=[PreviousSecret("whsec_older", 2_000), PreviousSecret("whsec_old", 3_000)]
    )
    assert s.secrets_in_use(1_000) == ["whsec_new", "whsec_old", "whsec_older"]
    assert s.secrets_in_use(2_000) == ["whsec_new", "whsec_old"]
    assert s.secrets_in_use(3_000) == ["whsec_new"]


def test_a_record_stored_with_one_previous_secret_still_signs_with_it() -> None:
    stored = b'{"id":"sub_x","url":"https://example.com/","secret":"whsec_new","createdAt":0,'
    stored += b'"updatedAt":0,"previousSecret":"whsec_old","previousSecretExpiresAt":5000}'
    s = msgspec.json.decode(stored, type=Subscription)
    assert s.secrets_in_use(4_999) == ["whsec_new", "whsec_old"]
    assert s.secrets_in_use(5_000) == ["whsec_new"]
