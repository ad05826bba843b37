"""Several Calypso accounts from ``BRIDGE_ACCOUNTS`` / ``BRIDGE_ACCOUNTS_FILE`` (TOML)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.accounts import parse_accounts
from bridge.config import ConfigError, Settings
from tests.support.config import SECRETS_KEYS

A = "0x" + "ab" * 20
B = "0x" + "CD" * 20
SECRET = "sup3r-secret-value"
TOKENS = {"BRIDGE_API_TOKENS": "token-aaaaaaaa", "BRIDGE_SECRETS_KEYS": SECRETS_KEYS}

TWO = f"""
[[account]]
id = "{A}"
api_key = "key-a"
api_secret = "{SECRET}"
webhook_secret = "hook-a"

[[account]]
id = "{B}"
api_key = "key-b"
api_secret = "secret-b"
base_url = "http://127.0.0.1:9999/"
rate_limit = 7.5
"""


def parse(text: str) -> tuple[list[str], list[str]]:
    accounts, problems = parse_accounts(
        text, source="accounts.toml", base_url="https://api.calypso.money", rate_limit=20.0
    )
    return [a.id for a in accounts], problems


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    return caught.value.problems


def test_two_accounts_with_their_own_upstream_and_defaults() -> None:
    settings = Settings.from_env({**TOKENS, "BRIDGE_ACCOUNTS": TWO})
    a, b = settings.accounts
    assert (a.id, a.api_key, a.api_secret, a.webhook_secret) == (A, "key-a", SECRET, "hook-a")
    assert (a.base_url, a.rate_limit) == ("https://api.calypso.money", 20.0)
    # Ids are stored lower-case, so the same account in another case is the same account.
    assert (b.id, b.base_url, b.rate_limit, b.webhook_secret) == (
        B.lower(),
        "http://127.0.0.1:9999",
        7.5,
        None,
    )
    assert settings.account(B) is b
    assert settings.account("0x" + "00" * 20) is None
    # One-account code paths (development mode) see the first account.
    assert settings.calypso_account == A


def test_global_base_url_and_rate_limit_are_the_defaults() -> None:
    environ = {
        **TOKENS,
        "BRIDGE_ACCOUNTS": TWO,
        "BRIDGE_CALYPSO_BASE_URL": "http://127.0.0.1:8090",
        "BRIDGE_UPSTREAM_RATE_LIMIT": "3",
    }
    a, b = Settings.from_env(environ).accounts
    assert (a.base_url, a.rate_limit) == ("http://127.0.0.1:8090", 3.0)
    assert (b.base_url, b.rate_limit) == ("http://127.0.0.1:9999", 7.5)


def test_single_account_variables_still_mean_one_account() -> None:
    settings = Settings.from_env(
        {
            **TOKENS,
            "BRIDGE_CALYPSO_ACCOUNT": B,
            "BRIDGE_CALYPSO_API_KEY": "key",
            "BRIDGE_CALYPSO_API_SECRET": SECRET,
            "BRIDGE_CALYPSO_WEBHOOK_SECRET": "hook",
            "BRIDGE_CALYPSO_BASE_URL": "http://127.0.0.1:8090",
        }
    )
    (only,) = settings.accounts
    assert (only.id, only.api_key, only.api_secret, only.webhook_secret) == (
        B.lower(),
        "key",
        SECRET,
        "hook",
    )
    assert (only.base_url, only.rate_limit) == ("http://127.0.0.1:8090", 20.0)


def test_accounts_from_a_file_with_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret-a"
    secret.write_text(SECRET + "\n")
    text = TWO.replace(f'api_secret = "{SECRET}"', f'api_secret_file = "{secret}"')
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    a, _ = Settings.from_env({**TOKENS, "BRIDGE_ACCOUNTS_FILE": str(path)}).accounts
    assert a.api_secret == SECRET


def test_accounts_and_single_account_variables_together_are_refused() -> None:
    environ = {**TOKENS, "BRIDGE_ACCOUNTS": TWO, "BRIDGE_CALYPSO_API_KEY": "key"}
    assert problems_of(environ) == [
        "BRIDGE_ACCOUNTS: set either BRIDGE_ACCOUNTS or BRIDGE_CALYPSO_API_KEY, not both"
    ]


def test_every_bad_entry_is_one_line_naming_source_entry_and_field() -> None:
    text = f"""
[[account]]
id = "{A}"
api_key = "k"
api_secret = "{SECRET}"
colour = "blue"

[[account]]
id = "0x1234"
api_key = ""
api_secret = "{SECRET}"
rate_limit = -1

[[account]]
id = "{A.upper().replace("0X", "0x")}"
api_key = "k"
api_secret = "{SECRET}"

[[account]]
id = "{B}"
api_key = "k"
api_secret = "{SECRET}"
api_secret_file = "/nowhere"
base_url = "ftp://example.com"
"""
    _, problems = parse(text)
    assert problems == [
        f"accounts.toml: account[0] ({A}): colour: unknown field",
        "accounts.toml: account[1] (0x1234): id: not a Calypso account "
        "(0x followed by 40 hex digits)",
        "accounts.toml: account[1] (0x1234): api_key: must be a non-empty string",
        "accounts.toml: account[1] (0x1234): rate_limit: must be a positive number "
        "(requests per second)",
        f"accounts.toml: account[3] ({B}): api_secret: set either api_secret or "
        "api_secret_file, not both",
        f"accounts.toml: account[3] ({B}): base_url: 'ftp://example.com' is not an http(s) URL",
    ]
    assert all(SECRET not in p for p in problems)


def test_the_same_account_twice_is_refused_in_any_case() -> None:
    text = TWO + TWO.replace(A, A.upper().replace("0X", "0x"))
    ids, problems = parse(text)
    assert ids == [A, B.lower()]
    assert problems == [
        f"accounts.toml: account[2] ({A.upper().replace('0X', '0x')}): id: "
        "the same account as account[0]",
        f"accounts.toml: account[3] ({B}): id: the same account as account[1]",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "accounts.toml: no [[account]] table"),
        ("account = 3", "accounts.toml: 'account' must be [[account]] tables"),
        (
            f'[[account]]\nid = "{A}"\napi_key = "k"\napi_secret = "{SECRET}"\n[other]\n',
            "accounts.toml: unknown table or key 'other'",
        ),
        (f'[[account]]\napi_secret = "{SECRET}\n', "accounts.toml: not valid TOML"),
        ("[[account]]\n", "accounts.toml: account[0]: id: required, not set"),
    ],
)
def test_malformed_documents(text: str, problem: str) -> None:
    _, problems = parse(text)
    assert problems[0].startswith(problem)
    assert all(SECRET not in p for p in problems)


def test_repr_hides_every_secret() -> None:
    settings = Settings.from_env({**TOKENS, "BRIDGE_ACCOUNTS": TWO})
    shown = repr(settings) + repr(settings.accounts)
    for secret in (SECRET, "secret-b", "key-a", "hook-a", "token-aaaaaaaa"):
        assert secret not in shown
    assert A in shown


@pytest.mark.parametrize("role", ["api", "worker"])
def test_a_bad_accounts_file_exits_2_with_one_line_per_problem(role: str, tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(TWO + TWO.replace("rate_limit = 7.5", 'rate_limit = "fast"'))
    result = subprocess.run(
        [sys.executable, "-m", "bridge", role],
        env={"PATH": "/usr/bin:/bin", **TOKENS, "BRIDGE_ACCOUNTS_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "bridge: cannot start:",
        f"  {path}: account[2] ({A}): id: the same account as account[0]",
        f"  {path}: account[3] ({B}): rate_limit: must be a positive number (requests per second)",
    ]
    assert SECRET not in result.stderr + result.stdout
