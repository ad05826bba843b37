"""A flapping upstream and random SIGKILLs change timing, never the outcome."""

from __future__ import annotations

import random
import time
from collections import defaultdict

import httpx
import pytest
from redis.asyncio import Redis

from bridge.calypso.client import CalypsoClient
from bridge.local_redis import free_port
from tests.support.chaos import chaos_env, drive, finish, setup_run, tally
from tests.support.processes import bridge_processes
from tests.support.receiver import WebhookReceiver
from tests.support.restartable_redis import RestartableRedis
from tests.support.sandbox_server import RunningServer

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

HEALTHY: dict[str, object] = {}
SLOW = {"latencyMs": 400}
FAILING = {"errorRate": 0.6, "errorStatus": 503, "rateLimitRate": 0.2, "retryAfterSeconds": 1}


@pytest.mark.timeout(240)
async def test_an_upstream_flapping_between_healthy_slow_and_failing_gives_the_same_events(
    aof_redis: RestartableRedis,
    chaos_redis: Redis,
    calypso: CalypsoClient,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
) -> None:
    fleet, _ = await setup_run(chaos_redis, calypso, sandbox_control, receiver.url, 40)
    phases = [HEALTHY, SLOW, FAILING]
    with bridge_processes("worker", 2, chaos_env(aof_redis.url, sandbox.url)):
        deadline = time.monotonic() + 150
        phase = 0
        while not fleet.done() and time.monotonic() < deadline:
            await sandbox_control.put("/sandbox/faults", json=phases[phase % 3])
            phase += 1
            switch_at = time.monotonic() + 1.0  # each state of the upstream lasts a second

            def switch_now(at: float = switch_at) -> bool:
                return time.monotonic() >= at

            await drive(fleet, chaos_redis, sandbox_control, until=switch_now, within=5)
        await sandbox_control.delete("/sandbox/faults")
        await finish(fleet, chaos_redis, sandbox_control, receiver, within=60)
    counts = await tally(chaos_redis, fleet, receiver)
    print(f"\nflapping upstream over {phase} phases: {counts}")
    assert phase >= 3
    # The same event log a fault-free run gives: four transitions per transaction, in order,
    # each with the sequence and previous state a fault-free run would have.
    assert counts.transitions == 40 * 4
    assert counts.missing_transitions == 0
    assert counts.stream_duplicates == 0
    assert counts.undelivered == 0


MAX_KILLS = 24


@pytest.mark.timeout(300)
async def test_random_sigkills_of_every_bridge_process_lose_nothing(
    aof_redis: RestartableRedis,
    chaos_redis: Redis,
    calypso: CalypsoClient,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
) -> None:
    fleet, _ = await setup_run(chaos_redis, calypso, sandbox_control, receiver.url, 150)
    rng = random.Random()
    env = chaos_env(aof_redis.url, sandbox.url)
    api_env = {**env, "BRIDGE_HTTP_PORT": str(free_port())}
    kills: dict[str, int] = defaultdict(int)
    with bridge_processes("worker", 3, env) as workers, bridge_processes("api", 1, api_env) as apis:
        # Kills stop after MAX_KILLS so the run's length does not depend on how the
        # dice fall: the fleet then finishes on the survivors and the restarted processes.
        deadline = time.monotonic() + 200
        while not fleet.done() and time.monotonic() < deadline and sum(kills.values()) < MAX_KILLS:
            next_kill = time.monotonic() + rng.uniform(0.2, 0.6)

            def done_or_kill_time(at: float = next_kill) -> bool:
                return fleet.done() or time.monotonic() >= at

            await drive(fleet, chaos_redis, sandbox_control, until=done_or_kill_time, within=5)
            if fleet.done():
                break
            # Every fourth kill takes the API, the rest a random worker.
            count = sum(kills.values())
            victim = apis[0] if count % 4 == 3 else rng.choice(workers)
            victim.kill()
            kills[victim.role] += 1
            victim.start()
        await finish(fleet, chaos_redis, sandbox_control, receiver, within=120)
    counts = await tally(chaos_redis, fleet, receiver)
    print(f"\nrandom SIGKILLs {dict(kills)}: {counts}")
    assert sum(kills.values()) >= 8
    assert kills["api"] >= 1
    assert counts.transitions == 150 * 4
    assert counts.missing_transitions == 0
    assert counts.stream_duplicates == 0
    assert counts.undelivered == 0
