"""Runs the README's consumer snippet as printed, against a given Redis URL and stream."""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Any

from bridge.cli import DEV_ACCOUNT
from bridge.client import Event
from tests.support.waiting import eventually

__all__ = ["run_readme_consumer", "snippet"]

README = Path(__file__).parent.parent.parent / "README.md"
DEV_STREAM = f"bridge:{{{DEV_ACCOUNT}}}:events"


class _Done(Exception):
    pass


def snippet() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- consumer:start -->\n```python\n(.*?)```\n<!-- consumer:end -->", text, re.S
    )
    assert found, "README lost its consumer snippet markers"
    return found.group(1)


async def run_readme_consumer(api: Any, url: str, stream: str, waiting: int) -> list[Event]:
    """The events the snippet hands to ``handle``: the ``waiting`` already in ``stream``, then
    one more made through ``api`` while it blocks. Handling that last one raises, so it stays
    unacknowledged (pending in the group)."""
    code = snippet()
    assert DEV_STREAM in code, "the snippet no longer names the development stream"
    code = code.replace(DEV_STREAM, stream).replace("redis://localhost:6379/0", url)
    received: list[Event] = []

    def handle(event: Event) -> None:
        received.append(event)
        if len(received) == waiting + 1:
            raise _Done

    def consume() -> None:
        with contextlib.suppress(_Done):
            exec(code, {"handle": handle})  # noqa: S102 - the README's own snippet

    thread = threading.Thread(target=consume)
    thread.start()
    await eventually(lambda: len(received) >= waiting, within=10)
    await api.post("/v1/customers", json={})  # one more, arriving while it waits
    thread.join(timeout=10)
    assert not thread.is_alive()
    return received
