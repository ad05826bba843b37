"""``bridge receive``: a local webhook receiver that verifies and prints what arrives.

For trying the bridge out and for debugging a subscription: it checks every request with
:func:`bridge.client.verify_webhook` (what a team's own receiver calls) and the
subscription's secret(s), answers 204 to a genuine event and 401 to anything else (so the
attempt log shows the difference), and prints one line per webhook (the typed event's type
and id, or why it was rejected), or the whole event with ``--full``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from bridge.client import WebhookVerificationError, verify_webhook

__all__ = ["serve_receiver"]


def _handler(
    secrets: Sequence[str], full: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def receive(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        try:
            event = verify_webhook(secrets, body, request.headers)
        except WebhookVerificationError as wrong:
            print(f"{stamp} {'REJECTED':13} {wrong.reason} {_guess(body)}", flush=True)
            return web.Response(status=401)
        print(f"{stamp} {'verified':13} {event.type} {event.id}", flush=True)
        if full:
            print(json.dumps(json.loads(body), indent=2), flush=True)
        return web.Response(status=204)

    return receive


def _guess(body: bytes) -> str:
    """What a rejected body claims to be, for the printed line only (it is not trusted)."""
    try:
        claimed = json.loads(body)
    except ValueError:
        return f"{len(body)} bytes, not JSON"
    if not isinstance(claimed, dict):
        return f"{len(body)} bytes, not an object"
    return f"{claimed.get('type', '?')} {claimed.get('id', '?')}"


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
