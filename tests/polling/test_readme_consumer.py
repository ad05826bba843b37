"""The README's consumer-group snippet reads the bridge's stream as printed."""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Any

from bridge.cli import DEV_ACCOUNT
from bridge.client import Event
from bridge.config import Settings
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.reading import stream_events
from tests.support.steps import new_customer_with_address
from tests.support.waiting import eventually

README = Path(__file__).parent.parent.parent / "README.md"


class _Done(Exception):
    pass


def snippet() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- consumer:start -->\n```python\n(.*?)```\n<!-- consumer:end -->", text, re.S
    )
    assert found, "README lost its consumer snippet markers"
    return found.group(1)


async def test_the_readme_consumer_reads_every_event_and_acks_it(
    api: Any, redis: RedisClient, redis_url: str, settings: Settings
) -> None:
    await new_customer_with_address(api)
    expected = await stream_events(redis, Keys(settings.key_prefix, settings.calypso_account))
    assert len(expected) == 2
    code = snippet()
    dev_stream = f"bridge:{{{DEV_ACCOUNT}}}:events"
    assert dev_stream in code
    code = code.replace(dev_stream, f"bridge:{{{settings.calypso_account.lower()}}}:events")
    code = code.replace("redis://localhost:6379/0", redis_url)
    received: list[Event] = []

    def handle(event: Event) -> None:
        received.append(event)
        if len(received) == len(expected) + 1:
            raise _Done

    def consume() -> None:
        with contextlib.suppress(_Done):
            exec(code, {"handle": handle})  # noqa: S102 - the README's own snippet

    thread = threading.Thread(target=consume)
    thread.start()
    await eventually(lambda: len(received) >= len(expected), within=10)
    await api.post("/v1/customers", json={})  # one more, arriving while it waits
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert [e.id for e in received[:2]] == [e["id"] for e in expected]
    assert received[2].type == "customer.created"
    key = f"bridge:{{{settings.calypso_account.lower()}}}:events"
    pending = await redis.xpending(key, "ledger")
    assert pending["pending"] == 1  # the last one raised before its XACK, as a crash would
