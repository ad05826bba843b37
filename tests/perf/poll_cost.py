"""Upstream cost of polling: calls per minute against naive polling of every customer.

Starts a Redis, the sandbox and one ``bridge worker`` as separate processes, watches
``--customers`` customers of which ``--active`` keep an open transaction, lets the cadence
settle for ``--warmup`` seconds and then counts the sandbox's requests for ``--window``
seconds. The baseline is what polling every customer every hot interval would cost.
Intervals are scaled down from the defaults (2 s / 5 min) with the same ratio so the idle
back-off settles in a minute instead of ten.

    .venv/bin/python -m tests.perf.poll_cost --customers 1000 --active 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
from redis.asyncio import Redis

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.local_redis import free_port
from bridge.poller.watchlist import WatchList
from bridge.store.keys import Keys
from tests.support.redis_server import real_redis

ACCOUNT = "0x" + "be" * 20
KEY, SECRET = "bench-key", "bench-secret"


async def wait_http(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def populate(sandbox: str, redis: Redis, customers: int, active: int) -> None:
    keys = Keys("bridge", ACCOUNT)
    watchlist = WatchList(redis, keys)
    async with (
        CalypsoClient(base_url=sandbox, account=ACCOUNT, api_key=KEY, api_secret=SECRET) as calypso,
        httpx.AsyncClient(base_url=sandbox) as control,
    ):

        async def one(n: int) -> None:
            customer = await calypso.create_customer(models.CustomerCreate())
            await watchlist.watch(customer.id, "bench")
            if n < active:
                purse = await calypso.get_purse_address(uuid.UUID(customer.id), "BTC")
                answer = await control.post(
                    "/sandbox/deposits",
                    json={"address": purse.address, "currency": "BTC", "amount": "0.1"},
                )
                answer.raise_for_status()

        for start in range(0, customers, 100):
            await asyncio.gather(*(one(n) for n in range(start, min(customers, start + 100))))


async def measure(args: argparse.Namespace, redis_url: str) -> dict[str, float]:
    port = free_port()
    sandbox = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BRIDGE_CALYPSO_ACCOUNT": ACCOUNT,
        "BRIDGE_CALYPSO_API_KEY": KEY,
        "BRIDGE_CALYPSO_API_SECRET": SECRET,
        "BRIDGE_API_TOKENS": "bench-token-123",
        "BRIDGE_REDIS_URL": redis_url,
        "BRIDGE_CALYPSO_BASE_URL": sandbox,
        "BRIDGE_POLL_HOT_INTERVAL": f"{int(args.hot * 1000)}ms",
        "BRIDGE_POLL_IDLE_INTERVAL": f"{int(args.idle)}s",
        "BRIDGE_UPSTREAM_RATE_LIMIT": "100000",
        "BRIDGE_LOG_LEVEL": "WARNING",
        "BRIDGE_METRICS_PORT": "0",
    }
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - starting a process returns at once
            [sys.executable, "-m", "bridge", "sandbox", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        await wait_http(f"{sandbox}/sandbox/counters")
        await populate(sandbox, redis, args.customers, args.active)
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 - starting a process returns at once
                [sys.executable, "-m", "bridge", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        async with httpx.AsyncClient(base_url=sandbox) as control:
            await control.delete("/sandbox/counters")
            await asyncio.sleep(args.warmup)
            first = (await control.get("/sandbox/counters")).json()["total"]
            started = time.monotonic()
            await asyncio.sleep(args.window)
            last = (await control.get("/sandbox/counters")).json()["total"]
            elapsed = time.monotonic() - started
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)
        await redis.aclose()
    per_minute = (last - first) * 60 / elapsed
    naive = args.customers * 60 / args.hot
    warmup_per_minute = first * 60 / args.warmup
    return {
        "customers": args.customers,
        "active": args.active,
        "hot_interval_s": args.hot,
        "idle_interval_s": args.idle,
        "calls_per_minute": round(per_minute, 1),
        "naive_calls_per_minute": round(naive, 1),
        "ratio": round(per_minute / naive, 4),
        "warmup_calls_per_minute": round(warmup_per_minute, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--active", type=int, default=10)
    parser.add_argument("--hot", type=float, default=0.2, help="hot interval, seconds")
    parser.add_argument("--idle", type=float, default=30.0, help="idle interval, seconds")
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args()
    with real_redis() as url:
        result = asyncio.run(measure(args, url))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
