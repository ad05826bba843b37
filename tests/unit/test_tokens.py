"""Named, scoped tokens: BRIDGE_TOKENS(_FILE), plain BRIDGE_API_TOKENS, and ``bridge token new``."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import ConfigError, Settings
from bridge.tokens import SCOPES, digest_of
from tests.support.config import SECRETS_KEYS

ACCOUNT = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
BASE = {
    "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
    "BRIDGE_CALYPSO_API_KEY": "public-key",
    "BRIDGE_CALYPSO_API_SECRET": "very-secret-value",
    "BRIDGE_SECRETS_KEYS": SECRETS_KEYS,
}
BRIDGE = (sys.executable, "-m", "bridge", "token", "new")
PLAIN = "plain-token-0123456789"
BILLING = "billing-token-0123456789"


def table(name: str, token: str, scopes: str, accounts: str = f'["{ACCOUNT}"]') -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return (
        f'[[token]]\nname = "{name}"\nsha256 = "{digest}"\naccounts = {accounts}\n'
        f"scopes = {scopes}\n"
    )


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    return caught.value.problems


def test_named_tokens_come_from_a_file_holding_only_digests(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(
        table("billing", BILLING, '["customers:read", "events:read"]')
        + table("ops", "ops-token-0123456789", '["admin"]', '["*"]')
    )
    settings = Settings.from_env({**BASE, "BRIDGE_TOKENS_FILE": str(path)})
    billing, ops = settings.grants
    assert billing.name == "billing"
    assert billing.digest == digest_of(BILLING)
    assert billing.scopes == {"customers:read", "events:read"}
    assert billing.accounts == frozenset({ACCOUNT})
    assert ops.accounts is None  # "*": every configured account
    assert ops.allows("subscriptions:write"), "admin implies every scope"
    assert not billing.allows("customers:write")


def test_plain_tokens_have_every_scope_on_every_account_and_a_digest_name() -> None:
    settings = Settings.from_env({**BASE, "BRIDGE_API_TOKENS": PLAIN})
    (grant,) = settings.grants
    assert grant.scopes == frozenset(SCOPES)
    assert grant.accounts is None
    assert grant.name == "token-" + hashlib.sha256(PLAIN.encode()).hexdigest()[:12]
    assert PLAIN not in repr(settings)
    assert PLAIN not in repr(grant)


def test_both_kinds_may_be_given_together() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "BRIDGE_API_TOKENS": PLAIN,
            "BRIDGE_TOKENS": table("billing", BILLING, '["events:read"]'),
        }
    )
    assert [g.name.startswith("token-") for g in settings.grants] == [True, False]


def test_at_least_one_token_is_required() -> None:
    (problem,) = problems_of(BASE)
    assert problem.startswith("BRIDGE_API_TOKENS: required (or BRIDGE_TOKENS")


def test_every_bad_entry_is_one_line_naming_source_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(
        table("billing", BILLING, '["customers:read", "customers:delete"]')
        + table("billing", "another-token-0123456789", '["events:read"]')
        + table("copy", BILLING, '["events:read"]')
        + table("elsewhere", "elsewhere-token-012345", '["events:read"]', f'["{OTHER}"]')
        + table("badacct", "badacct-token-0123456789", '["events:read"]', '["0x12"]')
        + '[[token]]\nname = "typo"\nsha256 = "00"\naccounts = ["*"]\nscopes = ["admin"]\n'
        + "colour = 'red'\n"
    )
    problems = problems_of({**BASE, "BRIDGE_TOKENS_FILE": str(path)})
    source = f"BRIDGE_TOKENS_FILE ({path})"
    assert all(p.startswith(f"{source}: [[token]] #") or "[[token]] (" in p for p in problems)
    assert all("\n" not in p for p in problems)
    joined = "\n".join(problems)
    assert "#1 (billing): scopes: 'customers:delete': not a scope" in joined
    assert "#2 (billing): name: also used by [[token]] #1" in joined
    assert "#3 (copy): sha256: the same token as [[token]] #1" in joined
    assert f"(elsewhere): accounts: {OTHER} is not a configured account" in joined
    assert "#5 (badacct): accounts: '0x12': not a Calypso account" in joined
    assert "#6 (typo): sha256: not 64 hex digits" in joined
    assert "#6 (typo): unknown field 'colour'" in joined
    assert len(problems) == 7


@pytest.mark.parametrize("role", ["api", "worker"])
def test_a_bad_tokens_file_stops_the_process_with_exit_2_and_no_token(
    role: str, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(
        '[[token]]\nname = "ci"\nsha256 = "' + BILLING + '"\naccounts = ["*"]\n'
        'scopes = ["admin", "customers:delete"]\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "bridge", role],
        env={"PATH": "/usr/bin:/bin", **BASE, "BRIDGE_TOKENS_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert BILLING not in result.stderr + result.stdout
    source = f"BRIDGE_TOKENS_FILE ({path}): [[token]] #1 (ci)"
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "bridge: cannot start:"
    assert all(line.strip().startswith(f"{source}: ") for line in lines[1:]), lines
    fields = sorted(line.strip().removeprefix(f"{source}: ").split(":")[0] for line in lines[1:])
    assert fields == ["scopes", "sha256"]


def test_a_plain_token_in_the_file_is_refused_with_a_hint_and_never_echoed() -> None:
    text = (
        '[[token]]\nname = "ci"\nsha256 = "' + BILLING + '"\naccounts = ["*"]\n'
        'scopes = ["admin"]\n'
        '[[token]]\nname = "ci2"\ntoken = "' + PLAIN + '"\naccounts = ["*"]\n'
        'scopes = ["admin", "' + PLAIN + '"]\n'
    )
    problems = problems_of({**BASE, "BRIDGE_TOKENS": text})
    joined = "\n".join(problems)
    assert BILLING not in joined
    assert PLAIN not in joined
    assert "BRIDGE_TOKENS: [[token]] #1 (ci): sha256: not 64 hex digits" in joined
    assert "BRIDGE_TOKENS: [[token]] #2 (ci2): token: a token never goes in this file" in joined
    assert joined.count("bridge token new") == 2


def test_a_token_in_both_variables_or_not_toml_is_a_problem() -> None:
    problems = problems_of(
        {
            **BASE,
            "BRIDGE_API_TOKENS": BILLING,
            "BRIDGE_TOKENS": table("billing", BILLING, '["events:read"]'),
        }
    )
    assert problems == [
        "BRIDGE_TOKENS: [[token]] (billing): sha256: the same token as one in BRIDGE_API_TOKENS"
    ]
    (problem,) = problems_of({**BASE, "BRIDGE_TOKENS": f"token = {PLAIN}"})
    assert problem.startswith("BRIDGE_TOKENS: not TOML")
    assert PLAIN not in problem


def test_token_new_prints_a_token_once_and_a_table_that_configures_it() -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "token",
            "new",
            "--name",
            "billing",
            "--scopes",
            "customers:read,events:read",
            "--accounts",
            ACCOUNT,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = re.search(r"^  (\S{43})$", made.stdout, re.MULTILINE)
    assert token is not None
    toml = made.stdout[made.stdout.index("[[token]]") :]
    assert token.group(1) not in toml
    settings = Settings.from_env({**BASE, "BRIDGE_TOKENS": toml})
    (grant,) = settings.grants
    assert grant.digest == digest_of(token.group(1))
    assert grant.scopes == {"customers:read", "events:read"}


def test_token_new_refuses_bad_arguments_with_exit_2() -> None:
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "token",
            "new",
            "--name",
            "a b",
            "--scopes",
            "everything",
            "--accounts",
            "0x1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "--name" in refused.stderr
    assert "--scopes" in refused.stderr
    assert "--accounts" in refused.stderr
    assert refused.stdout == ""
