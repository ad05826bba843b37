"""``GET /v1/events/stream``: the event log as Server-Sent Events (DESIGN §11).

Each event is ``id: <stream entry id>``, ``event: <type>``, ``data: <envelope JSON>``. The
position is the ``Last-Event-ID`` header (what an EventSource sends when it reconnects, so it
wins over the URL), else ``?after=``; ``0`` is before the oldest event kept; none means new
events only. A position with a gap after it (trimmed or deleted entries) is a 410 problem
before the stream starts, and ends a running stream, whose reconnect then gets the 410.

Memory per stream is one batch: the stream is read ``BATCH`` entries at a time and the next
batch only once the client took the last (the response awaits each send). Waiting for new
events blocks a Redis connection of the stream's own (see :mod:`bridge.events.tail`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from litestar import Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, HeaderParameter, QueryParameter
from litestar.response import Stream

from bridge.api.access import CallerDep, requires
from bridge.api.open_streams import OpenStreams
from bridge.api.problems import ProblemError, problems
from bridge.api.services import ServicesDep
from bridge.events.model import EventType
from bridge.events.stream import StoredEvent
from bridge.events.tail import NEWEST, OLDEST, EventTail, PositionGone
from bridge.store.connection import RedisClient, connect

__all__ = ["EVENT_STREAM_MEDIA_TYPE", "stream_events"]

EVENT_STREAM_MEDIA_TYPE = "text/event-stream"
BATCH = 100
# A blocking read waits at most this long, so its socket timeout stays short.
_LONGEST_WAIT = 5.0
# A stream entry id, or 0 (before the oldest kept); at most 19 digits a part, as cursors.
POSITION = r"^(0|[0-9]{1,19}-[0-9]{1,19})$"
_DOC = "A stream entry id (an event's `id:` line), or `0` for the oldest event kept."


@dataclass(frozen=True, slots=True)
class _Filter:
    types: frozenset[str]
    customer_id: str | None

    def wants(self, event: StoredEvent) -> bool:
        if self.types and event.type not in self.types:
            return False
        return not self.customer_id or event.customer_id == self.customer_id


@get(
    "/events/stream",
    **requires("events:read"),
    tags=("events",),
    summary="Follow the event log as Server-Sent Events",
    description=(
        "`text/event-stream`: each event has `id:` (its stream entry id), `event:` (its type) "
        "and `data:` (the event JSON); a `: keep-alive` comment comes every 15 s. Resume with "
        "`Last-Event-ID` (or `after`): every event after it, once and in order; `after=0` "
        "starts at the oldest event kept; no position, with new events only. 410 when events "
        "after the position are no longer kept (start again from `after=0` and know you have "
        "a gap). `wait` ends the stream after that many seconds (for scripts). At most "
        "`BRIDGE_SSE_MAX_STREAMS_PER_TOKEN` open streams per token and API process (429)."
    ),
    responses={
        200: ResponseSpec(
            data_container=str,
            media_type=EVENT_STREAM_MEDIA_TYPE,
            description="Server-Sent Events, until the client leaves or `wait` ends it",
            generate_examples=False,
        ),
        **problems(400, 401, 403, 410, 429, 503),
    },
)
async def stream_events(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    caller: CallerDep,
    after: Annotated[str | None, QueryParameter(pattern=POSITION, description=_DOC)] = None,
    last_event_id: Annotated[
        str | None, HeaderParameter(name="Last-Event-ID", pattern=POSITION, description=_DOC)
    ] = None,
    types: Annotated[list[EventType] | None, QueryParameter(name="type")] = None,
    customerId: FromQuery[uuid.UUID | None] = None,
    wait: Annotated[int | None, QueryParameter(ge=1, le=3600)] = None,
) -> Stream:
    streams: OpenStreams = request.app.state.streams
    slot = streams.open(caller.name)
    waiter: RedisClient | None = None
    try:
        settings = services.settings
        # Its own client: a blocking read holds the connection while it waits.
        waiter = connect(
            settings.redis_url,
            cluster=settings.redis_cluster,
            socket_timeout=_LONGEST_WAIT + 5.0,
        )
        tail = EventTail(services.redis, waiter, services.keys, batch=BATCH)
        start = last_event_id or after
        position = NEWEST if start is None else (OLDEST if start == "0" else start)
        try:
            position, first = await tail.read(position)
        except PositionGone as exc:
            raise ProblemError(
                410,
                "position_gone",
                "Events after this position are no longer kept",
                f"Events after {exc.position} were trimmed from the stream (or the stream "
                "never had that id): you have a gap. Start again with after=0.",
            ) from exc
        wanted = _Filter(frozenset(types or ()), None if customerId is None else str(customerId))
        deadline = None if wait is None else time.monotonic() + wait
        frames = _frames(tail, position, first, wanted, streams, deadline)
    except BaseException:
        slot.release()
        if waiter is not None:
            await waiter.aclose()
        raise
    # The frames' own ``finally`` releases both; this covers a stream never started.
    weakref.finalize(frames, slot.release)
    return Stream(
        _closing(frames, slot.release, waiter),
        media_type=EVENT_STREAM_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _closing(
    frames: AsyncIterator[bytes], release: Any, waiter: RedisClient
) -> AsyncIterator[bytes]:
    try:
        async for frame in frames:
            yield frame
    finally:
        release()
        # Shielded: the stream ends by cancellation when the client leaves.
        with anyio.CancelScope(shield=True):
            await waiter.aclose()


async def _frames(
    tail: EventTail,
    position: str,
    batch: list[StoredEvent],
    wanted: _Filter,
    streams: OpenStreams,
    deadline: float | None,
) -> AsyncIterator[bytes]:
    # The first bytes go out at once, so the client knows the stream is open.
    yield b": open\n\n"
    next_beat = time.monotonic() + streams.heartbeat
    while not streams.closing.is_set():
        for event in batch:
            if wanted.wants(event):
                yield _event_frame(event)
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        if now >= next_beat:
            yield b": keep-alive\n\n"
            next_beat = now + streams.heartbeat
        if not batch:
            until = min(next_beat, deadline or next_beat, now + _LONGEST_WAIT)
            if await _unless_closing(tail.wait(position, seconds=until - now), streams.closing):
                break
        try:
            position, batch = await tail.read(position)
        except PositionGone:
            # The reconnect, from the last id sent, gets the 410 that says so.
            yield b": events after the last id are no longer kept\n\n"
            return
    yield b": closing\n\n"


async def _unless_closing(wait: Awaitable[None], closing: asyncio.Event) -> bool:
    """Awaits ``wait`` unless ``closing`` is set first; whether it was."""
    waiting = asyncio.ensure_future(wait)
    closed = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, closed):
            task.cancel()
        # Shielded: a read cut off must have let go of its connection before the stream's
        # client is closed, whether this stream ends by cancellation or not.
        with anyio.CancelScope(shield=True):
            await asyncio.gather(waiting, closed, return_exceptions=True)
    if not waiting.cancelled() and (failure := waiting.exception()) is not None:
        raise failure
    return closing.is_set()


def _event_frame(event: StoredEvent) -> bytes:
    # The envelope is compact JSON: no raw newline, so one ``data:`` line holds it.
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        event.entry_id.encode(),
        event.type.encode(),
        event.body,
    )
