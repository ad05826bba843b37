"""The worker's ``/health/live`` follows its loops: each loop beats as it comes round, and the
worker is live only while every loop has beaten within its bound. A restart is what an
orchestrator does with a worker that is not live, so a stuck loop must show there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bridge.heartbeats import Heartbeats
from bridge.local_redis import free_port
from bridge.worker import Worker
from tests.support.config import scenario_settings
from tests.support.processes import wait_until_listening
from tests.support.restartable_redis import RestartableRedis, restartable_redis
from tests.support.sandbox_server import RunningServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

# How far past its own period a loop may fall behind before the worker is not live; small
# here so the test need not wait a minute, which is the default.
SLACK = 2.0


@pytest.fixture
def own_redis() -> Iterator[RestartableRedis]:
    """A Redis of this test's own, since it is paused."""
    with restartable_redis() as server:
        yield server


@pytest.fixture
async def probes(own_redis: RestartableRedis, sandbox: RunningServer) -> AsyncIterator[str]:
    """A running worker (its loops and probes) on ``own_redis``; yields the probes' URL."""
    port = free_port()
    settings = scenario_settings(
        own_redis.url, sandbox.url, BRIDGE_HTTP_HOST="127.0.0.1", BRIDGE_METRICS_PORT=str(port)
    )
    worker = Worker(settings, heartbeats=Heartbeats(slack=SLACK))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await wait_until_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        own_redis.resume()
        stop.set()
        await running
        await worker.aclose()


async def test_the_worker_is_not_live_while_its_loops_are_stuck_and_live_again_after(
    own_redis: RestartableRedis, probes: str
) -> None:
    async with httpx.AsyncClient(base_url=probes, timeout=5) as http:

        async def answers(status: int) -> bool:
            return (await http.get("/health/live")).status_code == status

        await eventually(lambda: answers(200), within=20, what="live while the loops run")
        # SIGSTOP: every Redis command of every loop now waits out its socket timeout (3 s,
        # then once more), far longer than any loop's period plus SLACK.
        own_redis.pause()
        await eventually(lambda: answers(503), within=30, what="not live while stuck")
        answer = await http.get("/health/live")
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["code"] == "stalled"
        # Whichever loops were overdue when asked (each waits on Redis), by name.
        loops = {"poll", "poll_wake", "fan_out", "reclaim", "delivery", "settle"}
        named = problem["detail"].removeprefix("Loops not coming round: ").rstrip(".")
        assert set(named.split(", ")) <= loops, problem

        own_redis.resume()
        await eventually(lambda: answers(200), within=30, what="live again once unstuck")
