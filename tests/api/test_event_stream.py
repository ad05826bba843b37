"""``GET /v1/events/stream`` through a real SSE client (httpx-sse) over a real socket."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import msgspec
import pytest
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse

from bridge.api.app import create_app
from bridge.api.serving import ApiServer
from bridge.config import Settings
from bridge.events.model import Event, EventType
from bridge.events.samples import sample_event
from bridge.events.stream import EventLog
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import ACCOUNT, TOKEN, worker_env
from tests.support.processes import bridge_processes, wait_until_listening
from tests.support.sandbox_server import RunningServer, serve_in_thread
from tests.support.tokens import grant, lacking, with_tokens

pytestmark = pytest.mark.timeout(60)

HEARTBEAT = 0.3
CUSTOMER = "00000000-0000-4000-8000-000000000001"  # the customer of the samples


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    return with_tokens(
        settings,
        grant("reader", ["events:read"]),
        grant("writer", lacking("events:read")),
        grant("elsewhere", ["events:read"], accounts=["0x" + "2b" * 20]),
    )


@pytest.fixture
def server(stream_settings: Settings, redis: RedisClient) -> Iterator[RunningServer]:
    app = create_app(stream_settings, sse_heartbeat=HEARTBEAT)
    with serve_in_thread(app, server=lambda config: ApiServer(config, app)) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http:
        yield http


@pytest.fixture
def log(redis: RedisClient, keys: Keys) -> EventLog:
    return EventLog(redis, keys, retention=86400)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events(kind: EventType, count: int) -> list[Event]:
    return [sample_event(ACCOUNT, kind, "sub_" + "a" * 24) for _ in range(count)]


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, **options: Any
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[ServerSentEvent]]]:
    async with aconnect_sse(client, "GET", "/v1/events/stream", **options) as source:
        yield source.response, _events_of(source)


async def _events_of(source: EventSource) -> AsyncIterator[ServerSentEvent]:
    async for sse in source.aiter_sse():
        if sse.data:  # comments carry no data (httpx-sse repeats the last id on them)
            yield sse


async def take(events_: AsyncIterator[ServerSentEvent], count: int) -> list[ServerSentEvent]:
    async def gather() -> list[ServerSentEvent]:
        return [await anext(events_) for _ in range(count)]

    return await asyncio.wait_for(gather(), 10)


async def test_a_consumer_resumed_with_last_event_id_gets_every_event_once_in_order(
    client: httpx.AsyncClient, log: EventLog
) -> None:
    first_run = events(EventType.PING, 30)
    await log.append(first_run[:10])
    seen: list[ServerSentEvent] = []
    async with stream(client, params={"after": "0"}) as (response, received):
        assert response.headers["content-type"].startswith("text/event-stream")
        seen += await take(received, 10)
        await log.append(first_run[10:20])  # arrive while it reads
        seen += await take(received, 5)
    # Disconnected after 15 of 20; 10 more arrive while it is away.
    await log.append(first_run[20:])
    last = seen[-1].id
    async with stream(client, headers={"Last-Event-ID": last}, params={"after": "0"}) as (
        _,
        received,
    ):
        seen += await take(received, 15)
        await log.append(events(EventType.PING, 2))
        seen += await take(received, 2)
    ids = [msgspec.json.decode(s.data)["id"] for s in seen]
    expected = [e.id for e in first_run] + ids[-2:]
    assert len(seen) == 32
    assert len(set(ids)) == 32, "every event once"
    assert ids == expected, "in stream order"
    entry_ids = [s.id for s in seen]
    assert entry_ids == sorted(entry_ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert all(s.event == "ping" for s in seen)
    print(f"resume: 15 read, disconnected, 15 resumed (10 appended while away), 2 live: {len(ids)}")


async def test_no_position_streams_only_new_events(
    client: httpx.AsyncClient, log: EventLog
) -> None:
    await log.append(events(EventType.PING, 3))
    async with stream(client) as (_, received):
        fresh = events(EventType.CUSTOMER_CREATED, 2)
        await log.append(fresh)
        got = await take(received, 2)
    assert [msgspec.json.decode(s.data)["id"] for s in got] == [e.id for e in fresh]
    assert [s.event for s in got] == ["customer.created"] * 2


async def test_filters_of_the_event_log_apply(client: httpx.AsyncClient, log: EventLog) -> None:
    mixed = [*events(EventType.PING, 2), *events(EventType.CUSTOMER_CREATED, 2)]
    mixed += events(EventType.CUSTOMER_BLOCKED, 1)
    await log.append(mixed)
    params = {"after": "0", "type": ["customer.created", "customer.blocked"]}
    async with stream(client, params=params) as (_, received):
        by_type = await take(received, 3)
    assert [s.event for s in by_type] == ["customer.created"] * 2 + ["customer.blocked"]
    async with stream(client, params={"after": "0", "customerId": CUSTOMER}) as (_, received):
        by_customer = await take(received, 3)
    assert {s.event for s in by_customer} == {"customer.created", "customer.blocked"}


async def test_a_keep_alive_comment_comes_while_nothing_happens(server: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=10) as http,
        http.stream("GET", "/v1/events/stream") as response,
    ):
        assert response.status_code == 200
        lines: list[str] = []

        async def until_keep_alive() -> None:
            async for line in response.aiter_lines():
                lines.append(line)
                if line == ": keep-alive":
                    return

        await asyncio.wait_for(until_keep_alive(), 5)
    assert lines[0] == ": open"


@pytest.mark.parametrize(
    ("where", "value"),
    [("query", "abc"), ("query", "1-2-3"), ("header", "12"), ("header", "1-"), ("query", "-1")],
)
async def test_a_malformed_position_is_a_400_problem(
    client: httpx.AsyncClient, where: str, value: str
) -> None:
    options: dict[str, Any] = (
        {"params": {"after": value}} if where == "query" else {"headers": {"Last-Event-ID": value}}
    )
    response = await client.get("/v1/events/stream", **options)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_request"


async def test_a_position_before_trimmed_events_is_a_410_problem(
    client: httpx.AsyncClient, log: EventLog, redis: RedisClient, keys: Keys
) -> None:
    await log.append(events(EventType.PING, 6))
    entries = cast(list[tuple[bytes, Any]], await redis.xrange(keys.events))
    ids = [raw.decode() for raw, _ in entries]
    await redis.xtrim(keys.events, maxlen=3, approximate=False)
    # The consumer saw the second entry; the third was trimmed before it came back.
    response = await client.get("/v1/events/stream", headers={"Last-Event-ID": ids[1]})
    assert response.status_code == 410
    assert response.json()["code"] == "position_gone"
    # One deleted after the position is a gap as well, though the first entry is older.
    await redis.xdel(keys.events, ids[4])
    response = await client.get("/v1/events/stream", params={"after": ids[3]})
    assert response.status_code == 410
    # A position after every deletion resumes, with what follows it.
    async with stream(client, params={"after": ids[4]}) as (response, received):
        assert response.status_code == 200
        assert [s.id for s in await take(received, 1)] == [ids[5]]
    # after=0 is the oldest kept, whatever was trimmed.
    async with stream(client, params={"after": "0"}) as (_, received):
        assert [s.id for s in await take(received, 2)] == [ids[3], ids[5]]


async def test_a_position_the_stream_never_gave_is_a_410_problem(
    client: httpx.AsyncClient, log: EventLog
) -> None:
    response = await client.get("/v1/events/stream", params={"after": "99999999999999-0"})
    assert response.status_code == 410
    await log.append(events(EventType.PING, 1))
    response = await client.get("/v1/events/stream", params={"after": "99999999999999-0"})
    assert response.status_code == 410


async def test_streams_beyond_the_per_token_limit_get_a_429_problem(
    client: httpx.AsyncClient, stream_settings: Settings
) -> None:
    limit = stream_settings.sse_max_streams_per_token
    async with asyncio.TaskGroup() as group:
        opened: list[httpx.Response] = []
        release = asyncio.Event()

        async def hold() -> None:
            async with client.stream("GET", "/v1/events/stream") as response:
                opened.append(response)
                await release.wait()

        for _ in range(limit):
            group.create_task(hold())
        while len(opened) < limit:
            await asyncio.sleep(0.01)
        refused = await client.get("/v1/events/stream")
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_streams"
        assert int(refused.headers["retry-after"]) > 0
        other = await client.get(
            "/v1/events/stream",
            params={"wait": 1},
            headers={"Authorization": "Bearer reader-token"},
        )
        assert other.status_code == 200, "the limit is per token"
        release.set()
    assert all(r.status_code == 200 for r in opened)

    async def freed() -> int:
        return (await client.get("/v1/events/stream", params={"wait": 1})).status_code

    # A stream's slot is freed when its client leaves.
    for _ in range(100):
        if await freed() == 200:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("slots were not released")


@pytest.mark.parametrize(
    ("token", "headers", "status", "code"),
    [
        ("writer-token", {}, 403, "insufficient_scope"),
        ("elsewhere-token", {}, 403, "account_forbidden"),
        ("reader-token", {"Calypso-Account": "0x" + "2b" * 20}, 403, "account_forbidden"),
        ("no-such-token", {}, 401, "unauthorized"),
    ],
)
async def test_refusals_of_scope_and_account(
    server: RunningServer, token: str, headers: dict[str, str], status: int, code: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get(
            "/v1/events/stream", headers={"Authorization": f"Bearer {token}", **headers}
        )
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_wait_ends_the_stream(client: httpx.AsyncClient, log: EventLog) -> None:
    await log.append(events(EventType.PING, 2))
    response = await client.get("/v1/events/stream", params={"after": "0", "wait": 1})
    assert response.status_code == 200
    assert response.text.count("event: ping") == 2


@pytest.mark.slow
async def test_sigterm_ends_open_streams_and_the_api_exits_within_the_grace(
    redis_url: str, redis: RedisClient, sandbox: RunningServer, log: EventLog
) -> None:
    port = free_port()
    env = worker_env(redis_url, sandbox.url, BRIDGE_SHUTDOWN_GRACE="8s")
    with bridge_processes("api", 1, env, each=lambda _: {"BRIDGE_HTTP_PORT": str(port)}) as (api,):
        await wait_until_listening(port)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http,
            aconnect_sse(http, "GET", "/v1/events/stream", params={"after": "0"}) as source,
        ):
            await log.append(events(EventType.PING, 1))
            received = _events_of(source)
            assert (await take(received, 1))[0].event == "ping"
            assert api.process is not None
            started = time.monotonic()
            api.process.send_signal(signal.SIGTERM)
            rest = [sse async for sse in received]  # the server ends the stream
            code = await asyncio.to_thread(api.process.wait, 8)
            took = time.monotonic() - started
    assert rest == []
    # uvicorn raises the signal it caught again once it has shut down.
    assert code in (0, -signal.SIGTERM)
    assert took < 4, f"exited {took:.1f} s after SIGTERM; the grace is 8 s"
