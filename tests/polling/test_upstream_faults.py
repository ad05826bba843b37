"""Upstream faults change the timing, never the events."""

from __future__ import annotations

import httpx
import pytest

from bridge.calypso.client import CalypsoClient
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.config import worker_env
from tests.support.fleet import assert_exactly_once, make_fleet
from tests.support.processes import bridge_processes
from tests.support.sandbox_server import RunningServer

pytestmark = pytest.mark.slow

FAULTS = {
    "errorRate": 0.1,
    "errorStatus": 503,
    "timeoutRate": 0.1,
    "hangSeconds": 1.0,
    "rateLimitRate": 0.1,
    "retryAfterSeconds": 1,
    "endpoints": ["transaction.find", "transaction.get"],
}


@pytest.mark.serial  # measures time
@pytest.mark.timeout(200)
async def test_thirty_percent_faults_give_the_same_events_and_visible_back_off(
    redis: RedisClient,
    redis_url: str,
    sandbox: RunningServer,
    sandbox_control: httpx.AsyncClient,
    keys: Keys,
    calypso: CalypsoClient,
) -> None:
    fleet = await make_fleet(20, calypso, WatchList(redis, keys), sandbox_control, keys.events)
    assert (await sandbox_control.put("/sandbox/faults", json=FAULTS)).status_code == 200
    await sandbox_control.delete("/sandbox/counters")
    env = worker_env(
        redis_url,
        sandbox.url,
        BRIDGE_POLL_HOT_INTERVAL="500ms",
        BRIDGE_POLL_IDLE_INTERVAL="2s",
        BRIDGE_POLL_LEASE="5s",
        BRIDGE_CALYPSO_TIMEOUT="300ms",
    )
    with bridge_processes("worker", 2, env):
        await fleet.drive(redis, sandbox_control, within=150)

    assert_exactly_once(fleet)  # the same events a fault-free run gives
    counters = (await sandbox_control.get("/sandbox/counters")).json()["byEndpoint"]
    statuses = counters["transaction.find"]["byStatus"]
    assert {"429", "503", "504", "200"} <= set(statuses), statuses
    faulted = sum(int(statuses[s]) for s in ("429", "503", "504"))
    assert 0.15 < faulted / counters["transaction.find"]["total"] < 0.45

    # Back-off: a 429 pauses every worker for its Retry-After (1 s), so the upstream sees
    # (almost) nothing in the half second after one; stragglers already on the wire may land.
    log = (await sandbox_control.get("/sandbox/requests")).json()["items"]
    times = sorted(e["at"] for e in log)
    limited = [e["at"] for e in log if e["status"] == 429]
    quiet = sum(1 for t in limited if not [u for u in times if t + 150 < u < t + 650])
    assert limited
    assert quiet / len(limited) >= 0.8, (quiet, len(limited))
