"""Durations and configuration on generated input: exact sums, clean refusals, no leaks."""

from __future__ import annotations

import inspect
import re
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bridge import config
from bridge.config import ConfigError, Settings
from bridge.durations import format_duration, parse_duration

UNIT_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}

# -- durations ---------------------------------------------------------------------------------

whole_counts = st.integers(min_value=0, max_value=10**6)
# Up to three decimals keeps every part a whole number of milliseconds.
fractional_counts = st.decimals(
    min_value=0, max_value=10**4, places=3, allow_nan=False, allow_infinity=False
)
duration_parts = st.one_of(
    st.tuples(whole_counts, st.sampled_from(list(UNIT_SECONDS))),
    st.tuples(fractional_counts, st.sampled_from(["s", "m", "h", "d"])),
)


def spelled(count: int | Decimal) -> str:
    return format(count, "f") if isinstance(count, Decimal) else str(count)


@given(st.lists(duration_parts, min_size=1, max_size=6), st.booleans())
def test_a_duration_is_the_sum_of_its_parts(
    parts: list[tuple[int | Decimal, str]], shout: bool
) -> None:
    text = "".join(f"{spelled(count)}{unit}" for count, unit in parts)
    expected = sum((Decimal(count) * UNIT_SECONDS[unit] for count, unit in parts), Decimal(0))
    seconds = parse_duration(f"  {text.upper() if shout else text} ")
    assert seconds == pytest.approx(float(expected), rel=1e-12, abs=1e-9)


@given(st.lists(duration_parts, min_size=1, max_size=6))
def test_a_parsed_duration_formats_to_one_part_that_parses_back(
    parts: list[tuple[int | Decimal, str]],
) -> None:
    seconds = parse_duration("".join(f"{spelled(count)}{unit}" for count, unit in parts))
    text = format_duration(seconds)
    assert re.fullmatch(r"[0-9]+(ms|s|m|h|d)", text), text
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-9)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["s", "m", "h", "d"]))
def test_whole_units_format_in_the_largest_unit_that_divides_them(count: int, unit: str) -> None:
    text = format_duration(parse_duration(f"{count}{unit}"))
    number, spelled_unit = re.fullmatch(r"([0-9]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    assert Decimal(number) * UNIT_SECONDS[spelled_unit] == count * UNIT_SECONDS[unit]
    larger = ["s", "m", "h", "d"][["s", "m", "h", "d"].index(spelled_unit) + 1 :]
    assert all(int(number) * UNIT_SECONDS[spelled_unit] % UNIT_SECONDS[u] for u in larger)


@given(st.floats(min_value=0, max_value=10**9, allow_nan=False))
def test_formatting_any_duration_loses_at_most_half_a_millisecond(seconds: float) -> None:
    back = parse_duration(format_duration(seconds))
    # Half a millisecond exactly (a tie rounds to even), plus the float arithmetic's own error.
    assert abs(back - seconds) <= 0.0005 + seconds * 1e-12 + 1e-12


def parsed(text: str) -> float | ValueError:
    try:
        return parse_duration(text)
    except ValueError as exc:
        return exc


@given(st.text() | st.from_regex(r"[0-9.]{0,6}(ms|s|m|h|d|y|us)?[0-9a-z ]{0,4}", fullmatch=True))
def test_garbage_is_refused_with_a_value_error_and_nothing_else(text: str) -> None:
    outcome = parsed(text)  # any other exception fails the test
    if isinstance(outcome, ValueError):
        assert "not a duration" in str(outcome)
    else:
        assert outcome >= 0
        written = text.strip().lower()
        assert written == "0" or re.fullmatch(r"(\d+(\.\d+)?(ms|s|m|h|d))+", written), text


# -- configuration -------------------------------------------------------------------------------

# Every variable Settings.from_env reads, straight from its source: a new one is fuzzed too.
VARIABLES = sorted(set(re.findall(r'"(BRIDGE_[A-Z_]+)"', inspect.getsource(config))))
SECRETS = (
    "BRIDGE_CALYPSO_API_KEY",
    "BRIDGE_CALYPSO_API_SECRET",
    "BRIDGE_API_TOKENS",
    "BRIDGE_CALYPSO_WEBHOOK_SECRET",
    "BRIDGE_REDIS_URL",
    "BRIDGE_SECRETS_KEYS",
)
# Values that parse, so that some generated environments are valid as a whole.
VALID = {
    "BRIDGE_CALYPSO_ACCOUNT": "0x" + "ab" * 20,
    "BRIDGE_CALYPSO_API_KEY": "public-key",
    "BRIDGE_CALYPSO_API_SECRET": "secret-value",
    "BRIDGE_API_TOKENS": "token-aaaaaaaa,token-bbbbbbbb",
    "BRIDGE_SECRETS_KEYS": "k1:" + "A" * 43 + "=",
    "BRIDGE_REDIS_URL": "redis://:pw@127.0.0.1:6379/0",
    "BRIDGE_POLL_HOT_INTERVAL": "500ms",
    "BRIDGE_POLL_IDLE_INTERVAL": "1h30m",
    "BRIDGE_HTTP_PORT": "8080",
    "BRIDGE_WEBHOOK_RETRY_SCHEDULE": "0s,5s,5m",
    "BRIDGE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128",
    "BRIDGE_LOG_LEVEL": "debug",
}
# A process environment holds no NUL characters, and Python decodes bytes that are not UTF-8
# into lone surrogates (surrogateescape). A secret file holds text.
file_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
env_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00")
    | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
    max_size=30,
)
# Makes a generated secret unmistakable: a problem line containing it can only have echoed it.
SECRET_MARK = "-Zq7xSECRETx7qZ"


@st.composite
def environments(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """An environment, the secret values it carries (by variable), and files to write.

    A valid base with any set of variables disturbed: unset, random text, or (secrets) read
    from a file, or set both ways at once. Few disturbances load; many pile up problems.
    """
    environ = dict(VALID)
    secrets = {name: value for name, value in VALID.items() if name in SECRETS}
    files: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(VARIABLES), unique=True)):
        ways = (
            ["unset", "random", "file", "both", "missing file"]
            if name in SECRETS
            else ["unset", "random"]
        )
        how = draw(st.sampled_from(ways))
        environ.pop(name, None)
        secrets.pop(name, None)
        if how == "unset":
            continue
        if how == "missing file":
            # Paths stay on one line: config.py writes the path into the problem unescaped.
            missing = draw(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12))
            environ[f"{name}_FILE"] = f"/nonexistent/{missing}"
            continue
        value = draw(file_text if how in ("file", "both") else env_text)
        if name in SECRETS:
            value += SECRET_MARK
            secrets[name] = value
        if how in ("file", "both"):
            # Text, as Kubernetes and Docker secrets hold. config.py lets the
            # UnicodeDecodeError of a non-UTF-8 file escape, so no bytes are generated.
            files[f"{name}_FILE"] = value
        if how != "file":
            environ[name] = value
    return environ, secrets, files


def loaded(environ: dict[str, str]) -> Settings | ConfigError:
    try:
        return Settings.from_env(environ)
    except ConfigError as error:
        return error


@settings(max_examples=400, deadline=None)
@given(environments())
def test_any_environment_gives_settings_or_one_clean_line_per_problem(
    generated: tuple[dict[str, str], dict[str, str], dict[str, str]],
) -> None:
    environ, secrets, files = generated
    with tempfile.TemporaryDirectory() as directory:
        for variable, content in files.items():
            path = Path(directory) / variable
            path.write_text(content, encoding="utf-8")
            environ = {**environ, variable: str(path)}
        outcome = loaded(environ)  # any other exception fails the test
    if isinstance(outcome, Settings):
        event("loaded")
        assert not any(value in repr(outcome) for value in secrets.values())
        return
    event("refused")
    assert outcome.problems
    for line in outcome.problems:
        assert len(line.splitlines()) == 1, line
        named = re.match(r"(BRIDGE_[A-Z_]+?)(_FILE)?: ", line)
        assert named, line
        assert named.group(1) in VARIABLES, line
        assert not any(value in line for value in secrets.values()), line
        assert SECRET_MARK not in line, line
