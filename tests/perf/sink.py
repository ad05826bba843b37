"""A fast webhook sink for the benchmarks: every POST gets ``204`` on a kept-alive connection.

A bare asyncio HTTP/1.1 server (no framework between the socket and the count), so the sink
is never what limits a delivery figure. For each request it records, per path, the arrival
time (``time.time()`` when the whole request has arrived) and the ``webhook-id`` header;
bodies only for the paths named at the last reset. Control routes, all JSON:

- ``GET /_stats``: ``{"paths": {path: {"count", "distinct", "first", "last"}}}``
- ``GET /_records?path=/a[&bodies=1]``: ``{"items": [[at, webhook_id, body?], ...]}``
- ``POST /_reset?keep=/a,/b``: forget everything; keep bodies of those paths from now on

    .venv/bin/python -m tests.perf.sink --port 9999

Requests must carry ``Content-Length`` (aiohttp and httpx send it for byte bodies);
chunked bodies are refused with 411.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

__all__ = ["Sink", "main"]

_NO_CONTENT = b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
_LENGTH_REQUIRED = b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_MAX_HEAD = 64 * 1024


@dataclass(slots=True)
class PathRecords:
    times: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    distinct: set[str] = field(default_factory=set)
    bodies: list[bytes] | None = None


class Sink:
    def __init__(self) -> None:
        self.paths: dict[str, PathRecords] = {}
        self.keep: frozenset[str] = frozenset()

    def record(self, path: str, webhook_id: str, body: bytes, at: float) -> None:
        records = self.paths.get(path)
        if records is None:
            records = self.paths[path] = PathRecords()
            if path in self.keep:
                records.bodies = []
        records.times.append(at)
        records.ids.append(webhook_id)
        records.distinct.add(webhook_id)
        if records.bodies is not None:
            records.bodies.append(body)

    def reset(self, keep: frozenset[str]) -> None:
        self.paths = {}
        self.keep = keep

    def control(self, method: str, target: str) -> tuple[int, object]:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "GET" and url.path == "/_stats":
            return 200, {"paths": {p: _summary(r) for p, r in self.paths.items()}}
        if method == "GET" and url.path == "/_records":
            records = self.paths.get(query.get("path", ""), PathRecords())
            if query.get("bodies") and records.bodies is not None:
                rows: list[list[object]] = [
                    [t, i, b.decode("utf-8", "replace")]
                    for t, i, b in zip(records.times, records.ids, records.bodies, strict=True)
                ]
            else:
                rows = [[t, i] for t, i in zip(records.times, records.ids, strict=True)]
            return 200, {"items": rows}
        if method == "POST" and url.path == "/_reset":
            keep = frozenset(p for p in query.get("keep", "").split(",") if p)
            self.reset(keep)
            return 200, {"keep": sorted(keep)}
        return 404, {"error": f"no control route {method} {url.path}"}


def _summary(records: PathRecords) -> dict[str, object]:
    return {
        "count": len(records.times),
        "distinct": len(records.distinct),
        # Appended in arrival order, so the ends are the first and the last arrival.
        "first": records.times[0] if records.times else None,
        "last": records.times[-1] if records.times else None,
    }


class _Connection(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        # Several requests may arrive in one read (pipelining), or one request in many.
        while self._transport is not None and self._one_request():
            pass

    def _one_request(self) -> bool:
        transport = self._transport
        assert transport is not None
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD:
                transport.close()
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length_text = headers.get("content-length")
        if length_text is None and "chunked" in headers.get("transfer-encoding", ""):
            transport.write(_LENGTH_REQUIRED)
            transport.close()
            self._transport = None
            return False
        length = int(length_text or 0)
        if len(self._buffer) < end + 4 + length:
            return False
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        method, target, *_ = request_line.split(" ")
        if target.startswith("/_"):
            self._answer_control(method, target)
        else:
            path = target.split("?", 1)[0]
            self._sink.record(path, headers.get("webhook-id", ""), body, time.time())
            transport.write(_NO_CONTENT)
        if headers.get("connection", "").lower() == "close":
            transport.close()
            self._transport = None
            return False
        return True

    def _answer_control(self, method: str, target: str) -> None:
        assert self._transport is not None
        status, document = self._sink.control(method, target)
        payload = json.dumps(document).encode()
        reason = "OK" if status == 200 else "Not Found"
        self._transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n".encode()
            + payload
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(host: str, port: int) -> None:
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(sink), host, port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
