"""``bridge acl``: what it prints, and what it never prints (a password it was given)."""

from __future__ import annotations

import hashlib
import io
import shlex

import pytest

from tests.support.acl_users import printed

ACCOUNT = "0x" + "AB" * 20
PASSWORD = "a-given-password-0123"


def test_a_generated_password_is_printed_once_on_stderr_and_the_line_holds_its_sha256() -> None:
    code, out, err = printed(["acl", "consumer", "--account", ACCOUNT, "--name", "ledger"])
    assert code == 0
    password = err.splitlines()[1]
    assert len(password) >= 40
    assert password not in out
    assert f"#{hashlib.sha256(password.encode()).hexdigest()}" in shlex.split(out)
    assert err.count(password) == 2  # the password itself, and in the URL to connect with
    assert f"redis://ledger:{password}@localhost:6379/0" in err


def test_the_consumer_line_names_the_accounts_stream_under_the_prefix_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_KEY_PREFIX", "calypso")
    code, out, err = printed(
        ["acl", "consumer", "--account", ACCOUNT, "--name", "ledger", "--password", PASSWORD]
    )
    assert (code, err) == (0, "")
    words = shlex.split(out)
    assert words[:5] == ["ACL", "SETUSER", "ledger", "reset", "on"]
    assert [w for w in words if w.startswith("~")] == [f"~calypso:{{{ACCOUNT.lower()}}}:events"]
    assert "-@all" in words
    assert words.index("-@all") < words.index("+xreadgroup")
    assert {"+xadd", "+xdel", "+xtrim", "+del", "+hgetall", "+@all"}.isdisjoint(words)
    assert PASSWORD not in out


def test_the_prefix_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_KEY_PREFIX", "calypso")
    code, out, _ = printed(["acl", "bridge", "--prefix", "b2", "--password", PASSWORD])
    assert code == 0
    assert [w for w in shlex.split(out) if w.startswith("~")] == ["~b2:*"]


def test_before_redis_7_2_client_setinfo_is_left_out() -> None:
    _, newer, _ = printed(["acl", "bridge", "--password", PASSWORD])
    _, older, _ = printed(["acl", "bridge", "--password", PASSWORD, "--redis-version", "7.0"])
    assert "+client|setinfo" in newer.split()
    assert "+client|setinfo" not in older.split()


def test_the_aclfile_form_is_the_same_user() -> None:
    _, line, _ = printed(["acl", "bridge", "--password", PASSWORD])
    _, entry, _ = printed(["acl", "bridge", "--password", PASSWORD, "--aclfile"])
    assert entry.split()[0:2] == ["user", "bridge"]
    assert entry.split()[2:] == line.split()[3:]


def test_the_bridge_user_has_no_command_that_changes_or_reveals_the_server() -> None:
    _, out, _ = printed(["acl", "bridge", "--password", PASSWORD])
    words = set(out.split())
    for forbidden in ("flushall", "flushdb", "config", "config|get", "config|set", "keys", "scan"):
        assert f"+{forbidden}" not in words
    for forbidden in ("debug", "shutdown", "acl", "module", "eval", "script", "script|flush"):
        assert f"+{forbidden}" not in words
    assert not any(w.startswith("+@") for w in words)
    assert "resetchannels" in words


def test_bad_input_is_one_line_per_problem_and_exit_2() -> None:
    code, out, err = printed(
        [
            "acl",
            "consumer",
            "--account",
            "0x12",
            "--name",
            "led ger",
            "--prefix",
            "a*",
            "--redis-version",
            "seven",
        ]
    )
    assert code == 2
    assert out == ""
    problems = err.splitlines()[1:]
    assert [p.split(":")[0].strip() for p in problems] == [
        "--account",
        "--prefix",
        "--redis-version",
        "--name",
    ]


def test_a_short_given_password_is_refused_without_echoing_it() -> None:
    code, out, err = printed(["acl", "bridge", "--password", "hunter2"])
    assert code == 2
    assert "hunter2" not in out + err
    assert "--password" in err


def test_the_url_takes_only_scheme_host_and_port_from_the_bridges_redis_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_REDIS_URL", "rediss://admin:s3cret-admin@redis.internal:6380/0")
    _, _, err = printed(["acl", "consumer", "--account", ACCOUNT, "--name", "ledger"])
    assert "s3cret-admin" not in err
    assert "rediss://ledger:" in err
    assert "@redis.internal:6380/0" in err


def test_a_password_can_come_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    code, out, err = printed(["acl", "bridge", "--password", "-"])
    assert (code, err) == (0, "")
    assert f"#{hashlib.sha256(PASSWORD.encode()).hexdigest()}" in out.split()
