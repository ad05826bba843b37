"""The key ring that seals subscription secrets at rest, and its configuration."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from bridge.config import ConfigError, Settings
from bridge.delivery.sealed_secrets import SealedSecrets
from bridge.delivery.subscriptions import PreviousSecret, Subscription
from bridge.sealing import KeyRing, SecretUnreadable, new_key

OLD_KEY = base64.b64encode(b"o" * 32).decode()
NEW_KEY = base64.b64encode(b"n" * 32).decode()
PLAIN = "whsec_" + base64.b64encode(b"s" * 24).decode()
HERE = b"account|sub_one|current"
ACCOUNT = "0x" + "ab" * 20
BASE_ENV = {
    "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
    "BRIDGE_CALYPSO_API_KEY": "public-key",
    "BRIDGE_CALYPSO_API_SECRET": "very-secret-value",
    "BRIDGE_API_TOKENS": "token-aaaaaaaa",
}


def ring(text: str) -> KeyRing:
    return KeyRing.parse(text)


# -- the key ring -------------------------------------------------------------------------------


def test_a_sealed_secret_names_its_key_hides_the_secret_and_opens_where_it_was_sealed() -> None:
    sealed = ring(f"k1:{OLD_KEY}").seal(PLAIN, HERE)
    assert sealed.startswith("sealed:k1:")
    assert PLAIN not in sealed
    assert PLAIN.removeprefix("whsec_") not in sealed
    assert ring(f"k1:{OLD_KEY}").open(sealed, HERE) == PLAIN


def test_each_seal_takes_a_fresh_nonce() -> None:
    keys = ring(f"k1:{OLD_KEY}")
    assert keys.seal(PLAIN, HERE) != keys.seal(PLAIN, HERE)


def test_the_first_key_seals_and_every_key_opens() -> None:
    old = ring(f"k1:{OLD_KEY}").seal(PLAIN, HERE)
    both = ring(f"k2:{NEW_KEY},k1:{OLD_KEY}")
    assert both.seal(PLAIN, HERE).startswith("sealed:k2:")
    assert both.open(old, HERE) == PLAIN
    assert both.is_current(both.seal(PLAIN, HERE))
    assert not both.is_current(old)


def test_a_secret_moved_elsewhere_altered_or_under_a_missing_key_does_not_open() -> None:
    keys = ring(f"k1:{OLD_KEY}")
    sealed = keys.seal(PLAIN, HERE)
    with pytest.raises(SecretUnreadable) as moved:
        keys.open(sealed, b"account|sub_two|current")
    assert moved.value.cause == "altered"
    body = sealed.rsplit(":", 1)[1]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(SecretUnreadable):
        keys.open(sealed.replace(body, flipped), HERE)
    with pytest.raises(SecretUnreadable) as missing:
        ring(f"k2:{NEW_KEY}").open(sealed, HERE)
    assert (missing.value.kid, missing.value.cause) == ("k1", "unknown_key")
    with pytest.raises(SecretUnreadable) as plain:
        keys.open(PLAIN, HERE)
    assert plain.value.cause == "not_sealed"
    assert PLAIN not in str(plain.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "at least one key"),
        (OLD_KEY, "entry 1 is not kid:base64key"),
        (f"k1:{OLD_KEY},k1:{NEW_KEY}", "appears twice"),
        ("k1:" + base64.b64encode(b"short").decode(), "exactly 32 bytes"),
        (f"k1:{OLD_KEY},k2:not*base64", "entry 2 (key 'k2'): key is not base64"),
        (f"{OLD_KEY}:{NEW_KEY}", "entry 1: a key id may only use"),
        (f"bad kid:{OLD_KEY}", "entry 1: a key id may only use"),
    ],
)
def test_a_malformed_ring_is_refused_without_echoing_key_material(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=r".") as refused:
        KeyRing.parse(text)
    assert problem in str(refused.value)
    for key in (OLD_KEY, NEW_KEY, "not*base64"):
        assert key not in str(refused.value)


def test_a_ring_shows_its_key_ids_only() -> None:
    keys = ring(f"k2:{NEW_KEY},k1:{OLD_KEY}")
    assert repr(keys) == "KeyRing(kids=('k2', 'k1'))"
    assert len(base64.b64decode(new_key())) == 32


# -- a subscription's secrets -------------------------------------------------------------------


def subscription(**fields: object) -> Subscription:
    plain = Subscription(
        id="sub_one", url="https://example.com/", secret=PLAIN, createdAt=0, updatedAt=0
    )
    return msgspec.structs.replace(plain, **fields)


def test_a_stored_record_holds_every_secret_sealed_for_its_role() -> None:
    sealed = SealedSecrets(ring(f"k1:{OLD_KEY}"), ACCOUNT)
    old = "whsec_" + base64.b64encode(b"o" * 24).decode()
    stored = sealed.sealed(subscription(previousSecrets=[PreviousSecret(old, 5_000)]))
    text = msgspec.json.encode(stored).decode()
    for secret in (PLAIN, old):
        assert secret.removeprefix("whsec_") not in text
    assert sealed.signing_secrets(stored, 4_999) == [PLAIN, old]
    # The current secret put in the previous one's place does not open there.
    swapped = msgspec.structs.replace(
        stored, previousSecrets=[PreviousSecret(stored.secret, 5_000)]
    )
    with pytest.raises(SecretUnreadable):
        sealed.signing_secrets(swapped, 0)
    # Nor in another account's subscription of the same id.
    with pytest.raises(SecretUnreadable):
        SealedSecrets(ring(f"k1:{OLD_KEY}"), "0x" + "cd" * 20).signing_secrets(stored, 0)


def test_plain_secrets_of_an_earlier_release_still_sign_and_are_sealed_when_written() -> None:
    legacy = msgspec.json.decode(
        b'{"id":"sub_one","url":"https://example.com/","secret":"' + PLAIN.encode() + b'",'
        b'"createdAt":0,"updatedAt":0,"previousSecret":"whsec_b2xk","previousSecretExpiresAt":9}',
        type=Subscription,
    )
    sealed = SealedSecrets(ring(f"k1:{OLD_KEY}"), ACCOUNT)
    assert sealed.signing_secrets(legacy, 0) == [PLAIN, "whsec_b2xk"]
    assert sealed.has_plain(legacy)
    stored = sealed.sealed(legacy)
    assert stored.previousSecret is None
    assert not sealed.has_plain(stored)
    assert sealed.signing_secrets(stored, 0) == [PLAIN, "whsec_b2xk"]


def test_a_reseal_moves_every_live_secret_to_the_first_key_and_drops_expired_ones() -> None:
    before = SealedSecrets(ring(f"k1:{OLD_KEY}"), ACCOUNT)
    stored = before.sealed(
        subscription(
            previousSecrets=[PreviousSecret("whsec_bGl2ZQ==", 9), PreviousSecret("whsec_ZGVhZA", 1)]
        )
    )
    after = SealedSecrets(ring(f"k2:{NEW_KEY},k1:{OLD_KEY}"), ACCOUNT)
    resealed = after.resealed(stored, 5)
    assert resealed is not None
    assert [resealed.secret[:10], *(p.secret[:10] for p in resealed.previousSecrets)] == [
        "sealed:k2:",
        "sealed:k2:",
    ]
    assert SealedSecrets(ring(f"k2:{NEW_KEY}"), ACCOUNT).signing_secrets(resealed, 5) == [
        PLAIN,
        "whsec_bGl2ZQ==",
    ]
    assert after.resealed(resealed, 5) is None


# -- configuration ------------------------------------------------------------------------------


def test_the_keys_are_required_and_may_come_from_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        Settings.from_env(BASE_ENV)
    assert missing.value.problems == [
        "BRIDGE_SECRETS_KEYS: required (or BRIDGE_SECRETS_KEYS_FILE), not set"
    ]
    keys = tmp_path / "keys"
    keys.write_text(f"k2:{NEW_KEY},k1:{OLD_KEY}\n")
    settings = Settings.from_env({**BASE_ENV, "BRIDGE_SECRETS_KEYS_FILE": str(keys)})
    assert settings.secrets_keys.kids == ("k2", "k1")
    assert NEW_KEY not in repr(settings)
    assert OLD_KEY not in repr(settings)


@pytest.mark.parametrize("role", ["api", "worker"])
@pytest.mark.parametrize(
    "keys",
    [None, f"k1:{OLD_KEY[:-8]}", f"{OLD_KEY}", f"k1:{OLD_KEY},k1:{NEW_KEY}"],
)
def test_missing_or_malformed_keys_stop_the_process_with_one_line_and_exit_2(
    role: str, keys: str | None
) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **BASE_ENV}
    if keys is not None:
        env["BRIDGE_SECRETS_KEYS"] = keys
    result = subprocess.run(
        [sys.executable, "-m", "bridge", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "bridge: cannot start:"
    assert len(lines) == 2
    assert lines[1].strip().startswith("BRIDGE_SECRETS_KEYS")
    for material in (OLD_KEY, OLD_KEY[:-8], NEW_KEY):
        assert material not in result.stderr + result.stdout
