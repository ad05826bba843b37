"""The home of every Lua script (``bridge/store/lua/``) and its loader.

Each file says what it takes and why it is a script; each compiles on standalone Redis and
on a three-master cluster; a script Redis forgot is loaded again without running any call
twice; and the lease token reads the same in Lua as in Python.
"""

from __future__ import annotations

import re
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ResponseError

from bridge.store import scripts
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.store.leases import make_token, token_expiry_ms
from bridge.store.scripts import IDEMPOTENCY_CLAIM, POLL_CLAIM, POLL_POKE, Lua, Script
from tests.support.config import ACCOUNT
from tests.support.redis_modes import both_redis_modes

ROOT = Path(__file__).resolve().parents[2]
HOME = resources.files("bridge.store") / "lua"
HEADER_FIELDS = ("KEYS:", "ARGV:", "Returns:", "Atomic:")
KEYS = Keys("bridge", ACCOUNT)
WORKER = "host-1:4242:9f3a0c"  # worker ids contain colons themselves


def _own_text(name: str) -> str:
    return (HOME / f"{name}.lua").read_text(encoding="utf-8")


def _header(name: str) -> list[str]:
    lines = _own_text(name).splitlines()
    end = next(i for i, line in enumerate(lines) if not line.startswith("--"))
    return lines[:end]


def _snippet_functions() -> dict[str, list[str]]:
    return {
        f.name.removeprefix("_").removesuffix(".lua"): re.findall(
            r"^local function (\w+)", f.read_text(), re.M
        )
        for f in HOME.iterdir()
        if f.name.startswith("_") and f.name.endswith(".lua")
    }


def test_every_script_file_begins_with_what_it_does_its_keys_argv_answer_and_guarantee() -> None:
    assert len(scripts.names()) >= 15
    for name in scripts.names():
        header = _header(name)
        assert header, f"{name}.lua has no header"
        assert not any(header[0][3:].startswith(f) for f in HEADER_FIELDS), name
        for field in HEADER_FIELDS:
            found = [line for line in header if line.startswith(f"-- {field}")]
            assert len(found) == 1, f"{name}.lua: one '-- {field}' line expected, got {found}"


def test_the_catalogue_names_every_script_file_and_nothing_else() -> None:
    catalogue = {v.name for v in vars(scripts).values() if isinstance(v, Lua)}
    assert catalogue == set(scripts.names())


def test_a_script_calling_a_snippet_function_declares_that_it_needs_the_snippet() -> None:
    functions = _snippet_functions()
    assert functions["lease"] == ["make_token", "token_expiry_ms"]
    for name in scripts.names():
        own = _own_text(name)
        declared = {
            n.strip() for line in re.findall(r"^-- Needs:(.+)$", own, re.M) for n in line.split(",")
        }
        used = {
            s for s, names in functions.items() if any(re.search(rf"\b{f}\(", own) for f in names)
        }
        assert declared == used, f"{name}.lua needs {sorted(used)}, declares {sorted(declared)}"


# Lua that is not the bridge's: scripts the ACL tests send to show Redis refuses them.
NOT_THE_BRIDGES = {"tests/ops/test_redis_acl.py", "tests/ops/test_redis_acl_bridge.py"}


def test_no_lua_lives_outside_the_home() -> None:
    call = re.compile(r"redis\.call\(")
    found = [
        path.relative_to(ROOT).as_posix()
        for folder in ("bridge", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if call.search(path.read_text(encoding="utf-8"))
    ]
    assert sorted(found) == sorted(NOT_THE_BRIDGES)


@pytest.fixture
async def client(redis: RedisClient) -> RedisClient:
    """The test's Redis (standalone or cluster, emptied) with no script loaded yet."""
    await redis.script_flush()
    return redis


@both_redis_modes
async def test_every_script_of_the_home_compiles_on_redis(client: RedisClient) -> None:
    shas = await scripts.load_all(client)
    assert len(shas) == len(scripts.names())
    assert await client.script_exists(*shas) == [True] * len(shas)


@both_redis_modes
async def test_a_forgotten_script_is_loaded_again_and_runs_each_batched_call_once(
    client: RedisClient,
) -> None:
    claim = Script(client, IDEMPOTENCY_CLAIM)
    keys = [KEYS.idempotency("scripts", f"key-{n}") for n in range(5)]
    # Redis knows no script (flushed): every call is refused, loaded, and sent once more.
    # A call run twice would answer the record of its first run instead of nil.
    assert await client.script_exists(claim.sha) == [False]
    assert await claim.many([([k], [b"first", 60_000]) for k in keys]) == [None] * 5
    assert await client.script_exists(claim.sha) == [True]
    assert await claim.many([([k], [b"second", 60_000]) for k in keys]) == [b"first"] * 5
    await client.script_flush()
    assert await claim([KEYS.idempotency("scripts", "single")], [b"one", 60_000]) is None


@both_redis_modes
async def test_an_error_in_one_batched_call_is_raised_after_the_others_ran(
    client: RedisClient,
) -> None:
    claim = Script(client, IDEMPOTENCY_CLAIM)
    good, bad = KEYS.idempotency("scripts", "good"), KEYS.idempotency("scripts", "bad")
    with pytest.raises(ResponseError):
        await claim.many([([good], [b"x", 60_000]), ([bad], [b"x", "not a ttl"])])
    assert await client.get(good) == b"x"
    assert await client.get(bad) is None


TOKENS = [
    make_token(WORKER, 1_700_000_000_123),
    make_token("w", 0),
    "worker",
    "worker:",
    "worker:soon",
    "worker:12x",
    "worker:١٢",
    "",
]


@both_redis_modes
async def test_the_lease_snippet_makes_and_reads_tokens_exactly_as_python_does(
    client: RedisClient,
) -> None:
    probe = scripts.snippet("lease") + (
        "local read = {}\n"
        "for i = 3, #ARGV do read[#read + 1] = token_expiry_ms(ARGV[i]) end\n"
        "return {make_token(ARGV[1], tonumber(ARGV[2])), token_expiry_ms(false), read}\n"
    )
    expiry = int(time.time() * 1000) + 30_000
    made, missing, read = await client.eval(probe, 0, WORKER, expiry, *TOKENS)
    assert made.decode() == make_token(WORKER, expiry)
    assert missing == 0
    assert read == [token_expiry_ms(t) for t in TOKENS]


@both_redis_modes
async def test_a_lease_claimed_in_lua_reads_in_python_as_held_until_its_due_time(
    client: RedisClient,
) -> None:
    now = int(time.time() * 1000)
    await client.zadd(KEYS.poll_schedule, {"customer-1": now - 1})
    claimed = await _claim_polls(client, now, lease_ms=30_000)
    assert [c.decode() for c in claimed[:2]] == ["customer-1", make_token(WORKER, now + 30_000)]
    token = claimed[1].decode()
    assert token_expiry_ms(token) == await client.zscore(KEYS.poll_schedule, "customer-1")
    assert await client.hget(KEYS.poll_leases, "customer-1") == claimed[1]


@both_redis_modes
async def test_a_lease_made_in_python_holds_off_claims_and_pokes_in_lua_until_it_runs_out(
    client: RedisClient,
) -> None:
    now = int(time.time() * 1000)
    await client.zadd(KEYS.poll_schedule, {"customer-1": now - 1})
    await client.hset(KEYS.poll_leases, "customer-1", make_token("other:1:ab", now + 60_000))
    assert await _claim_polls(client, now, lease_ms=30_000) == []
    assert await _poke(client, "customer-1", now) == 1
    assert await client.sismember(KEYS.poll_poked, "customer-1")  # wait for the running poll
    await client.delete(KEYS.poll_poked)

    await client.hset(KEYS.poll_leases, "customer-1", make_token("other:1:ab", now - 1))
    assert await _poke(client, "customer-1", now) == 1
    assert not await client.sismember(KEYS.poll_poked, "customer-1")  # due at once instead
    assert await client.zscore(KEYS.poll_schedule, "customer-1") == now
    assert [c.decode() for c in (await _claim_polls(client, now, lease_ms=30_000))[:1]] == [
        "customer-1"
    ]


async def _claim_polls(client: RedisClient, now: int, *, lease_ms: int) -> list[Any]:
    keys = [KEYS.poll_schedule, KEYS.poll_leases, KEYS.poll_poked]
    return await Script(client, POLL_CLAIM)(keys, [now, lease_ms, 10, WORKER])


async def _poke(client: RedisClient, customer: str, now: int) -> int:
    keys = [KEYS.poll_schedule, KEYS.poll_leases, KEYS.poll_poked, KEYS.poll_wake]
    return await Script(client, POLL_POKE)(keys, [customer, now])
