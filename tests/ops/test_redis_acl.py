"""The Redis users ``bridge acl`` prints, applied to a real redis-server: a stream consumer
reads and acknowledges its account's events and nothing else; the bridge runs its whole
lifecycle as its own user, and is refused what it does not need (DESIGN §10)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from bridge.config import Settings
from bridge.store.keys import Keys
from tests.support.acl_users import AclUsers, allowed_of
from tests.support.reading import stream_events
from tests.support.readme_consumer import run_readme_consumer
from tests.support.receiver import WebhookReceiver
from tests.support.steps import new_customer_with_address, subscribe

CONSUMER_PASSWORD = "consumer-password-0123456789"
OTHER_ACCOUNT = "0x" + "2b" * 20


@pytest.fixture
async def acl(redis: Redis, redis_url: str) -> AsyncIterator[AclUsers]:
    users = AclUsers(redis, redis_url)
    await redis.acl_log_reset()
    yield users
    await users.aclose()


async def consumer_of(acl: AclUsers, settings: Settings, name: str = "ledger") -> str:
    return await acl.make(
        "consumer",
        "--account",
        settings.calypso_account,
        "--name",
        name,
        password=CONSUMER_PASSWORD,
    )


async def test_the_readme_consumer_reads_and_acknowledges_as_its_acl_user(
    api: Any, redis: Redis, acl: AclUsers, settings: Settings
) -> None:
    url = await consumer_of(acl, settings)
    keys = Keys(settings.key_prefix, settings.calypso_account)
    await new_customer_with_address(api)
    expected = await stream_events(redis, keys)
    received = await run_readme_consumer(api, url, keys.events, len(expected))
    assert [e.id for e in received[:2]] == [e["id"] for e in expected]
    # The last one raised before its XACK: the consumer user itself finds it pending, takes
    # it over as a new consumer of its group and acknowledges it.
    async with Redis.from_url(url) as consumer:
        assert (await consumer.xpending(keys.events, "ledger"))["pending"] == 1
        groups = await consumer.xinfo_groups(keys.events)
        assert {g["name"] for g in groups} >= {b"ledger"}
        await consumer.xgroup_createconsumer(keys.events, "ledger", "ledger-2")
        _, claimed, _ = await consumer.xautoclaim(keys.events, "ledger", "ledger-2", 0)
        assert len(claimed) == 1
        assert await consumer.xack(keys.events, "ledger", claimed[0][0]) == 1
        assert (await consumer.xpending(keys.events, "ledger"))["pending"] == 0
    assert await acl.denied("ledger") == []


@pytest.mark.foreign_events  # a placeholder entry makes the other account's stream exist
async def test_the_consumer_user_is_refused_secrets_writes_deletes_and_other_accounts(
    api: Any, redis: Redis, acl: AclUsers, settings: Settings, receiver: WebhookReceiver
) -> None:
    url = await consumer_of(acl, settings)
    keys = Keys(settings.key_prefix, settings.calypso_account)
    other = Keys(settings.key_prefix, OTHER_ACCOUNT)
    await subscribe(api, f"{receiver.url}/hook")
    await new_customer_with_address(api)
    await redis.xadd(other.events, {"event": "{}"})
    assert await redis.exists(keys.subscriptions, keys.events) == 2
    length = await redis.xlen(keys.events)

    refused = {
        "HGETALL of the subscriptions (and their secrets)": ("HGETALL", keys.subscriptions),
        "HGET of one subscription": ("HGET", keys.subscriptions, "x"),
        "XADD to its stream": ("XADD", keys.events, "*", "event", "{}"),
        "XDEL from its stream": ("XDEL", keys.events, "0-1"),
        "XTRIM of its stream": ("XTRIM", keys.events, "MAXLEN", "0"),
        "DEL of its stream": ("DEL", keys.events),
        "XGROUP DESTROY of the bridge's group": (
            "XGROUP",
            "DESTROY",
            keys.events,
            keys.dispatcher_group,
        ),
        "XGROUP SETID of the bridge's group": (
            "XGROUP",
            "SETID",
            keys.events,
            keys.dispatcher_group,
            "$",
        ),
        "XRANGE (not a consumer group read)": ("XRANGE", keys.events, "-", "+"),
        "another account's stream": (
            "XREADGROUP",
            "GROUP",
            "ledger",
            "c",
            "STREAMS",
            other.events,
            ">",
        ),
        "a group on another account's stream": (
            "XGROUP",
            "CREATE",
            other.events,
            "ledger",
            "0",
            "MKSTREAM",
        ),
        "KEYS": ("KEYS", "*"),
        "SCAN": ("SCAN", "0"),
        "CONFIG GET": ("CONFIG", "GET", "requirepass"),
        "SUBSCRIBE": ("SUBSCRIBE", "anything"),
        "EVAL": ("EVAL", "return redis.call('HGETALL', KEYS[1])", "1", keys.subscriptions),
    }
    dangerous = [("FLUSHALL",), ("CONFIG", "SET", "save", ""), ("SHUTDOWN",), ("ACL", "LIST")]
    assert [c for c in dangerous if await acl.permits("ledger", *c)] == []
    async with Redis.from_url(url) as consumer:
        assert await allowed_of(consumer, refused) == []
        # What it may do, it may do on its own stream only.
        await consumer.xgroup_create(keys.events, "ledger", id="0")
        answer: Any = await consumer.xreadgroup("ledger", "ledger-1", {keys.events: ">"}, count=1)
        assert len(answer[0][1]) == 1
    assert await redis.xlen(keys.events) == length
    assert await redis.exists(keys.subscriptions) == 1


async def test_a_consumer_line_is_one_account_and_an_applied_user_has_no_plain_password(
    redis: Redis, acl: AclUsers, settings: Settings
) -> None:
    await consumer_of(acl, settings, name="reports")
    listed = [_text(line) for line in await redis.acl_list()]
    (rules,) = [line for line in listed if line.startswith("user reports ")]
    assert CONSUMER_PASSWORD not in rules
    stream = Keys(settings.key_prefix, settings.calypso_account).events
    assert f"~{stream} " in rules
    assert rules.count("~") == 1
    assert "+@all" not in rules


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
