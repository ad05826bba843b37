"""The worker's own small HTTP server: liveness, readiness and Prometheus metrics.

Workers serve no API, yet orchestrators need probes and Prometheus needs a scrape target;
this is that, on ``BRIDGE_METRICS_PORT`` (0 turns it off). Live means every loop of the
worker came round in time (:mod:`bridge.heartbeats`), not merely that this server answers:
a worker whose loops are stuck is one to restart. Ready means Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiohttp import web
from redis.exceptions import RedisError

from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys

__all__ = ["WorkerProbes"]

_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


class WorkerProbes:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys | Sequence[Keys],
        metrics: Metrics,
        *,
        host: str,
        port: int,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self._redis = redis
        self._heartbeats = heartbeats or Heartbeats()
        # Every account's backlog is read into the gauges of that account.
        self._keys = [keys] if isinstance(keys, Keys) else list(keys)
        self._metrics = metrics
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health/live", self._live)
        app.router.add_get("/health/ready", self._ready)
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _live(self, _: web.Request) -> web.Response:
        stalled = self._heartbeats.stalled()
        if stalled:
            return _unavailable(
                "stalled", "Stalled", f"Loops not coming round: {', '.join(stalled)}."
            )
        return web.json_response({"status": "ok"})

    async def _ready(self, _: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=1.0)
        except (RedisError, TimeoutError, OSError):
            return _unavailable("not_ready", "Not ready", "Redis is not reachable.")
        return web.json_response({"status": "ready"})

    async def _scrape(self, _: web.Request) -> web.Response:
        # Without Redis the process's own metrics are still worth serving.
        with contextlib.suppress(RedisError):
            for keys in self._keys:
                await self._metrics.refresh_backlog(self._redis, keys)
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": _PROMETHEUS})


def _unavailable(code: str, title: str, detail: str) -> web.Response:
    return web.json_response(
        {
            "type": f"urn:calypso-bridge:problem:{code}",
            "title": title,
            "status": 503,
            "code": code,
            "detail": detail,
        },
        status=503,
        content_type="application/problem+json",
    )
