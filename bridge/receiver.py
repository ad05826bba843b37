"""``bridge receive``: a local webhook receiver that verifies and prints what arrives.

For trying the bridge out and for debugging a subscription: it checks every request the
Standard Webhooks way with the subscription's secret(s), answers 204 when the signature
holds and 401 when it does not (so the attempt log shows the difference), and prints one
line per webhook, or the whole event with ``--full``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from bridge.delivery.signing import verify

__all__ = ["serve_receiver"]


def _handler(
    secrets: Sequence[str], full: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def receive(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        ok = any(verify(secret, headers, body) for secret in secrets)
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        try:
            event = json.loads(body)
            summary = f"{event.get('type', '?')} {event.get('id', '?')}"
        except ValueError:
            event, summary = None, f"{len(body)} bytes, not JSON"
        mark = "verified" if ok else "BAD SIGNATURE"
        print(f"{stamp} {mark:13} {summary}", flush=True)
        if full and event is not None:
            print(json.dumps(event, indent=2), flush=True)
        return web.Response(status=204 if ok else 401)

    return receive


async def serve_receiver(
    host: str, port: int, path: str, secrets: Sequence[str], *, full: bool = False
) -> None:
    app = web.Application()
    app.router.add_post(path, _handler(secrets, full))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"receiving webhooks at http://{host}:{port}{path} (Ctrl-C stops)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        print("receiver stopped", file=sys.stderr, flush=True)
