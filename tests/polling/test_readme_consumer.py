"""The README's consumer-group snippet reads the bridge's stream as printed."""

from __future__ import annotations

from typing import Any

from bridge.config import Settings
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.reading import stream_events
from tests.support.readme_consumer import run_readme_consumer
from tests.support.steps import new_customer_with_address


async def test_the_readme_consumer_reads_every_event_and_acks_it(
    api: Any, redis: RedisClient, redis_url: str, settings: Settings
) -> None:
    await new_customer_with_address(api)
    keys = Keys(settings.key_prefix, settings.calypso_account)
    expected = await stream_events(redis, keys)
    assert len(expected) == 2
    received = await run_readme_consumer(api, redis_url, keys.events, len(expected))
    assert [e.id for e in received[:2]] == [e["id"] for e in expected]
    assert received[2].type == "customer.created"
    key = f"bridge:{{{settings.calypso_account.lower()}}}:events"
    pending = await redis.xpending(key, "ledger")
    assert pending["pending"] == 1  # the last one raised before its XACK, as a crash would
