from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config import ConfigError, Settings
from bridge.durations import format_duration, parse_duration

ACCOUNT = "0x" + "ab" * 20
REQUIRED = {
    "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
    "BRIDGE_CALYPSO_API_KEY": "public-key",
    "BRIDGE_CALYPSO_API_SECRET": "very-secret-value",
    "BRIDGE_API_TOKENS": "token-aaaaaaaa,token-bbbbbbbb",
    "BRIDGE_SECRETS_KEYS": "k1:" + "A" * 43 + "=",
}


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    return caught.value.problems


def test_defaults_follow_the_design_table() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.calypso_base_url == "https://api.calypso.money"
    assert settings.calypso_webhook_secret is None
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8080)
    assert (settings.poll_hot_interval, settings.poll_idle_interval) == (2.0, 300.0)
    assert settings.upstream_rate_limit == 20.0
    assert settings.webhook_retry_schedule == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert settings.webhook_allow_http is False
    assert settings.webhook_allowed_networks == ()
    assert settings.stream_retention == 7 * 86400
    assert settings.dead_letter_retention == 30 * 86400
    assert (settings.log_level, settings.log_format) == ("INFO", "json")
    assert settings.api_tokens == ("token-aaaaaaaa", "token-bbbbbbbb")


def test_every_variable_of_the_table_is_read() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "BRIDGE_REDIS_URL": "rediss://cache:6380/2",
            "BRIDGE_CALYPSO_BASE_URL": "http://127.0.0.1:8090/",
            "BRIDGE_CALYPSO_WEBHOOK_SECRET": "hook-secret",
            "BRIDGE_HTTP_HOST": "127.0.0.1",
            "BRIDGE_HTTP_PORT": "9000",
            "BRIDGE_POLL_HOT_INTERVAL": "500ms",
            "BRIDGE_POLL_IDLE_INTERVAL": "1h30m",
            "BRIDGE_UPSTREAM_RATE_LIMIT": "7.5",
            "BRIDGE_WEBHOOK_RETRY_SCHEDULE": "0s,1s,2s",
            "BRIDGE_WEBHOOK_ALLOW_HTTP": "true",
            "BRIDGE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128",
            "BRIDGE_STREAM_RETENTION": "2d",
            "BRIDGE_LOG_LEVEL": "debug",
            "BRIDGE_LOG_FORMAT": "console",
        }
    )
    assert settings.redis_url == "rediss://cache:6380/2"
    assert settings.calypso_base_url == "http://127.0.0.1:8090"
    assert settings.calypso_webhook_secret == "hook-secret"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 9000)
    assert (settings.poll_hot_interval, settings.poll_idle_interval) == (0.5, 5400.0)
    assert settings.upstream_rate_limit == 7.5
    assert settings.webhook_retry_schedule == (0.0, 1.0, 2.0)
    assert settings.webhook_allow_http is True
    assert settings.webhook_allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.stream_retention == 2 * 86400
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")


def test_all_problems_are_reported_at_once_one_line_each() -> None:
    problems = problems_of(
        {
            "BRIDGE_CALYPSO_ACCOUNT": "0x123",
            "BRIDGE_HTTP_PORT": "http",
            "BRIDGE_POLL_HOT_INTERVAL": "fast",
            "BRIDGE_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/33",
            "BRIDGE_LOG_FORMAT": "xml",
        }
    )
    assert len(problems) == 9
    joined = "\n".join(problems)
    for name in (
        "BRIDGE_CALYPSO_ACCOUNT",
        "BRIDGE_CALYPSO_API_KEY",
        "BRIDGE_CALYPSO_API_SECRET",
        "BRIDGE_API_TOKENS",
        "BRIDGE_SECRETS_KEYS",
        "BRIDGE_HTTP_PORT",
        "BRIDGE_POLL_HOT_INTERVAL",
        "BRIDGE_WEBHOOK_ALLOWED_NETWORKS",
        "BRIDGE_LOG_FORMAT",
    ):
        assert name in joined
    assert all("\n" not in p for p in problems)


def test_idle_interval_shorter_than_hot_interval_is_refused() -> None:
    problems = problems_of(
        {**REQUIRED, "BRIDGE_POLL_HOT_INTERVAL": "10m", "BRIDGE_POLL_IDLE_INTERVAL": "1m"}
    )
    assert problems == [
        "BRIDGE_POLL_IDLE_INTERVAL: must not be shorter than BRIDGE_POLL_HOT_INTERVAL"
    ]


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("file-token-123456\n")
    environ = {**REQUIRED}
    del environ["BRIDGE_CALYPSO_API_SECRET"], environ["BRIDGE_API_TOKENS"]
    environ["BRIDGE_CALYPSO_API_SECRET_FILE"] = str(secret_file)
    environ["BRIDGE_API_TOKENS_FILE"] = str(tokens_file)
    settings = Settings.from_env(environ)
    assert settings.calypso_api_secret == "from-a-file"
    assert settings.api_tokens == ("file-token-123456",)


def test_a_secret_set_twice_or_from_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(
        {
            **REQUIRED,
            "BRIDGE_CALYPSO_API_SECRET_FILE": str(tmp_path / "nope"),
            "BRIDGE_CALYPSO_WEBHOOK_SECRET_FILE": str(tmp_path / "missing"),
        }
    )
    assert problems[0].startswith("BRIDGE_CALYPSO_API_SECRET: set either")
    assert problems[1].startswith("BRIDGE_CALYPSO_WEBHOOK_SECRET_FILE: cannot read")


def test_secret_values_never_appear_in_problems_or_repr() -> None:
    bad_tokens = {**REQUIRED, "BRIDGE_API_TOKENS": "short", "BRIDGE_REDIS_URL": "http://u:pw@x"}
    problems = problems_of(bad_tokens)
    assert not any("short" in p or "pw@" in p for p in problems)
    text = repr(Settings.from_env({**REQUIRED, "BRIDGE_CALYPSO_WEBHOOK_SECRET": "hook-secret"}))
    for secret in ("very-secret-value", "token-aaaaaaaa", "public-key", "hook-secret"):
        assert secret not in text


def test_cluster_mode_follows_the_flag_or_the_scheme() -> None:
    assert Settings.from_env({**REQUIRED, "BRIDGE_REDIS_CLUSTER": "yes"}).redis_cluster
    by_scheme = {**REQUIRED, "BRIDGE_REDIS_URL": "redis+cluster://127.0.0.1:7000"}
    assert Settings.from_env(by_scheme).redis_cluster
    assert not Settings.from_env(REQUIRED).redis_cluster


def test_bad_configuration_exits_2_with_one_line_per_problem_and_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "api"],
        env={"PATH": "/usr/bin:/bin", "BRIDGE_CALYPSO_ACCOUNT": "nope"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "bridge: cannot start:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "BRIDGE_CALYPSO_ACCOUNT",
        "BRIDGE_CALYPSO_API_KEY",
        "BRIDGE_CALYPSO_API_SECRET",
        "BRIDGE_API_TOKENS",
        "BRIDGE_SECRETS_KEYS",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("500ms", 0.5), ("2s", 2), ("5m", 300), ("1h30m", 5400), ("7d", 604800)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "-5s", "1.5.2s", "5y", "s5"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**9))
def test_formatted_durations_parse_back_to_the_same_milliseconds(millis: int) -> None:
    assert parse_duration(format_duration(millis / 1000)) == pytest.approx(millis / 1000)


def test_a_secret_file_that_is_not_text_is_one_problem_line(tmp_path: Path) -> None:
    binary = tmp_path / "secret.bin"
    binary.write_bytes(b"\xff\xfe\x00secret")
    environ = {**REQUIRED, "BRIDGE_CALYPSO_API_SECRET_FILE": str(binary)}
    del environ["BRIDGE_CALYPSO_API_SECRET"]
    assert problems_of(environ) == [
        f"BRIDGE_CALYPSO_API_SECRET_FILE: {str(binary)!r} is not UTF-8 text"
    ]


@pytest.mark.parametrize("value", ["\u0663\u0663", "\uff18\uff10\uff18\uff10", "\u00b2"])
def test_ports_and_counts_take_ascii_digits_only(value: str) -> None:
    problems = problems_of(
        {**REQUIRED, "BRIDGE_HTTP_PORT": value, "BRIDGE_POLL_CONCURRENCY": value}
    )
    assert [p.split(":")[0] for p in problems] == ["BRIDGE_HTTP_PORT", "BRIDGE_POLL_CONCURRENCY"]


def test_absurdly_long_durations_are_refused_not_infinite() -> None:
    assert problems_of({**REQUIRED, "BRIDGE_CALYPSO_TIMEOUT": "9" * 400 + "s"})[0].startswith(
        "BRIDGE_CALYPSO_TIMEOUT:"
    )


def test_intents_are_recovered_after_two_minutes_unless_set() -> None:
    assert Settings.from_env(REQUIRED).intent_recover_after == 120
    tuned = Settings.from_env({**REQUIRED, "BRIDGE_INTENT_RECOVER_AFTER": "5s"})
    assert tuned.intent_recover_after == 5


def test_a_fault_is_refused_unless_fault_injection_is_switched_on() -> None:
    fault = {**REQUIRED, "BRIDGE_FAULT_AFTER_UPSTREAM": "customer.block"}
    (problem,) = problems_of(fault)
    assert problem.startswith("BRIDGE_FAULT_AFTER_UPSTREAM:")
    assert "BRIDGE_FAULT_INJECTION=true" in problem
    allowed = Settings.from_env({**fault, "BRIDGE_FAULT_INJECTION": "true"})
    assert allowed.fault_after_upstream == frozenset({"customer.block"})
    assert Settings.from_env(REQUIRED).fault_after_upstream == frozenset()


def test_a_fault_names_a_calypso_operation() -> None:
    environ = {
        **REQUIRED,
        "BRIDGE_FAULT_INJECTION": "true",
        "BRIDGE_FAULT_AFTER_UPSTREAM": "customer.block, customer.explode",
    }
    assert problems_of(environ) == [
        "BRIDGE_FAULT_AFTER_UPSTREAM: 'customer.explode': not a Calypso operation"
    ]
