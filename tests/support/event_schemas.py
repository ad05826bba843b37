"""Every event a test leaves in Redis validates against its type's published JSON Schema.

The ``redis`` fixture calls :func:`check_event_streams` when a test ends, so each test that
makes events through the API, the poller or inbound webhooks also checks them against the
catalog (``GET /v1/event-types``) with a real JSON Schema validator, not with msgspec, which
made them. A test that writes entries of its own into a stream, not the bridge's, says so with
``@pytest.mark.foreign_events``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, cast

from jsonschema import Draft202012Validator
from redis.asyncio import Redis, RedisCluster

from bridge.events.catalog import catalog
from bridge.events.model import EventType

__all__ = ["MAX_CHECKED", "check_event_streams", "schema_problems"]

# Per stream and test: enough for every scenario; a load test's tail is its head's shape.
MAX_CHECKED = 5000


@cache
def _validators() -> dict[str, Draft202012Validator]:
    return {info.type.value: Draft202012Validator(info.schema) for info in catalog()}


def schema_problems(body: bytes | str | dict[str, Any]) -> list[str]:
    """What is wrong with one event body (the envelope JSON), empty when it validates."""
    event = json.loads(body) if isinstance(body, bytes | str) else body
    if not isinstance(event, dict):
        return [f"not an object: {event!r}"]
    kind = event.get("type")
    if kind not in {k.value for k in EventType}:
        return [f"unknown type {kind!r}"]
    found = _validators()[kind].iter_errors(event)
    return [f"{kind} {list(e.absolute_path)}: {e.message}" for e in found]


async def check_event_streams(client: Redis | RedisCluster) -> None:
    """Assert that every event stream's entries (the first ``MAX_CHECKED``) validate."""
    if isinstance(client, RedisCluster):
        for node in client.get_primaries():
            async with Redis(host=node.host, port=int(node.port)) as direct:
                await _check_node(direct)
    else:
        await _check_node(client)


async def _check_node(client: Redis) -> None:
    problems: list[str] = []
    async for key in client.scan_iter(match="*:events", count=500, _type="stream"):
        raw = await client.xrange(key, count=MAX_CHECKED)
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", raw)
        for entry_id, fields in entries:
            where = f"{key.decode()} {entry_id.decode()}"
            if b"event" not in fields:
                problems.append(f"{where}: no event field")
                continue
            body = fields[b"event"]
            problems += [f"{where}: {p}" for p in schema_problems(body)]
            if fields.get(b"type", b"").decode() != json.loads(body).get("type"):
                problems.append(f"{where}: the entry's type field is not the event's")
    assert not problems, "events that do not match their schema:\n" + "\n".join(problems[:20])
