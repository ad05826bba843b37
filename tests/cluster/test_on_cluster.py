"""The bridge's lifecycles on a three-master Redis Cluster (DESIGN §5, §7, §9).

Every key of an account carries the account as its hash tag, so each script and MULTI the
bridge runs stays in one slot. These tests drive the same lifecycles as the standalone
suites, through the same API and worker, against the cluster; the ``redis`` fixture checks
after each one that every key it left lives in the account's slot.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis, RedisCluster
from standardwebhooks.webhooks import Webhook

from bridge.calypso.signing import sign
from bridge.config import Settings
from bridge.local_redis import free_port
from bridge.poller.cadence import Cadence
from bridge.poller.poll import CustomerPoller
from bridge.poller.ratelimit import UpstreamRateLimit
from bridge.poller.schedule import PollSchedule
from bridge.poller.watchlist import WatchList
from bridge.probes import WorkerProbes
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.cluster.conftest import ACCOUNT_SLOT, keys_by_slot
from tests.delivery.conftest import subscribe
from tests.polling.conftest import (
    deposit,
    new_customer_with_address,
    poll_now,
    stream_events,
    transaction_events,
)
from tests.polling.test_inbound_webhooks import webhook
from tests.polling.test_lifecycles import summary
from tests.support.webhook_receiver import Answer, WebhookReceiver

Client = AsyncTestClient[Any]
Receiver = tuple[WebhookReceiver, str]
AMOUNT = "0.123456789012345678"


def verified(secret: str, arrival: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(arrival.body, arrival.headers)
    return payload


def unique(name: str) -> str:
    # The sandbox lives for the whole session: external ids must not meet other suites'.
    return f"cluster-{name}-{time.time_ns()}"


async def test_the_cluster_has_three_masters_and_the_bridge_talks_to_it(
    redis: RedisCluster, worker: Worker
) -> None:
    primaries = redis.get_primaries()
    assert len(primaries) == 3
    assert all(node.host == "127.0.0.1" for node in primaries)
    assert isinstance(worker.redis, RedisCluster)
    owner = redis.nodes_manager.get_node_from_slot(ACCOUNT_SLOT)
    assert owner is not None
    assert owner.name in {node.name for node in primaries}


# -- (a) the transaction lifecycle ---------------------------------------------------------


async def test_a_deposit_advanced_three_times_makes_one_event_per_transition_in_order(
    api: Client,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisCluster,
    settings: Settings,
) -> None:
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, AMOUNT)
    await poll_now(worker, customer)
    for _ in range(3):
        (await sandbox_control.post(f"/sandbox/transactions/{tx}/advance")).raise_for_status()
        await poll_now(worker, customer)
    await poll_now(worker, customer)  # nothing new: nothing emitted

    events = await transaction_events(redis, settings, tx)
    assert summary(events) == [
        ("transaction.mem_pool_found", 1, None),
        ("transaction.pending_compliance_check", 2, ("MEM_POOL_FOUND", "UNCHECKED", False)),
        ("transaction.confirmed", 3, ("PENDING_COMPLIANCE_CHECK", "IN_PROGRESS", False)),
        ("transaction.credited", 4, ("CONFIRMED", "CHECKED", False)),
    ]
    assert {e["data"]["transaction"]["amount"] for e in events} == {AMOUNT}
    assert all(e["data"]["customerId"] == customer for e in events)
    assert len({e["id"] for e in events}) == 4
    raw = [f[b"event"] for _, f in await redis.xrange(worker.keys.events)]
    assert any(f'"amount":"{AMOUNT}"'.encode() in body for body in raw)


async def test_concurrent_pollers_of_one_customer_emit_each_transition_once(
    api: Client,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisCluster,
    settings: Settings,
) -> None:
    """Leases bypassed: the one-slot record script alone must prevent duplicates."""
    customer, address = await new_customer_with_address(api)
    txs = [await deposit(sandbox_control, address, str(n)) for n in range(1, 4)]
    poller = CustomerPoller(worker.calypso, worker.events, settings.calypso_account)
    await asyncio.gather(*(poller.poll(customer) for _ in range(6)))
    for tx in txs:
        await sandbox_control.post(f"/sandbox/transactions/{tx}/advance")
    await asyncio.gather(*(poller.poll(customer) for _ in range(6)))

    events = [
        e for e in await stream_events(redis, settings) if e["type"].startswith("transaction.")
    ]
    assert len(events) == len({e["id"] for e in events}) == 6


async def test_the_running_poll_loop_records_a_deposit_and_takes_wake_ups(
    api: Client,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    redis: RedisCluster,
    settings: Settings,
) -> None:
    """The production loop (claim, BLPOP on the wake list, complete), not drain()."""
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, "4.2")
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.polls.run(stop))
    try:
        events = await _eventually(lambda: transaction_events(redis, settings, tx))
        assert [e["type"] for e in events] == ["transaction.mem_pool_found"]
        body = webhook(customer)
        hinted = await api.post(
            "/v1/calypso/webhooks",
            content=body,
            headers={"Content-Type": "application/json", "Sign": sign(body, "inbound-secret")},
        )
        assert hinted.status_code == 202
        # The hint pushed onto the wake list; the loop's BLPOP takes it off again.
        assert await _eventually(lambda: _wake_list_empty(redis, worker.keys))
    finally:
        stop.set()
        await loop


async def _wake_list_empty(redis: RedisCluster, keys: Keys) -> bool:
    return int(await redis.llen(keys.poll_wake)) == 0


async def _eventually(probe: Any, within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


# -- (b) idempotent customer creation ------------------------------------------------------


async def test_one_external_id_makes_one_customer_even_when_requests_race(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    """The externalId lock (redis-py's Lock: SET NX and Lua release) on the cluster."""
    external_id = unique("racy")
    await sandbox_control.put("/sandbox/faults", json={"latencyMs": 50})
    answers = await asyncio.gather(
        *(api.post("/v1/customers", json={"externalId": external_id}) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    again = await api.post("/v1/customers", json={"externalId": external_id, "email": "x@y.io"})
    assert (again.status_code, again.json()["id"]) == (200, answers[0].json()["id"])


async def test_an_idempotency_key_replays_refuses_reuse_and_is_freed_by_a_failure(
    api: Client, sandbox_control: httpx.AsyncClient
) -> None:
    """The Lua claim and release of idempotency records, on the cluster."""
    key = {"Idempotency-Key": unique("key")}
    first = await api.post("/v1/customers", json={"email": "a@b.io"}, headers=key)
    again = await api.post("/v1/customers", json={"email": "a@b.io"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = await api.post("/v1/customers", json={"email": "c@d.io"}, headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")

    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 500, "endpoints": ["customer.create"]},
    )
    other = {"Idempotency-Key": unique("key")}
    failed = await api.post("/v1/customers", json={}, headers=other)
    assert failed.status_code == 502
    assert (await api.post("/v1/customers", json={}, headers=other)).status_code == 201


# -- (c) webhook delivery ------------------------------------------------------------------


async def test_a_transaction_event_is_delivered_signed_end_to_end(
    api: Client,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook", eventTypes=["transaction.*"])
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, AMOUNT)
    await poll_now(worker, customer)
    assert await worker.deliver() == 1
    (arrival,) = await app.wait_for(1, "/hook")
    event = verified(subscription["secret"], arrival)
    assert (event["type"], event["data"]["transaction"]["id"]) == ("transaction.mem_pool_found", tx)
    assert event["data"]["transaction"]["amount"] == AMOUNT
    assert arrival.headers["webhook-id"] == event["id"]
    log = (await api.get(f"/v1/subscriptions/{subscription['id']}/deliveries")).json()
    assert [(a["attempt"], a["outcome"]) for a in log["items"]] == [(1, "delivered")]


async def test_a_failed_attempt_is_retried_on_schedule_and_then_delivered(
    api: Client, dispatching: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    app.answer_next("/flaky", Answer(500))
    subscription = await subscribe(api, f"{url}/flaky")
    await api.post("/v1/customers", json={})
    first, second = await app.wait_for(2, "/flaky")
    assert second.at - first.at >= 0.2
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verified(subscription["secret"], second)["type"] == "customer.created"
    log = await _eventually(lambda: _attempts(api, subscription["id"], 2))
    assert [(a["attempt"], a["status"]) for a in log] == [(2, 200), (1, 500)]


async def test_exhausted_deliveries_are_dead_letters_until_replayed(
    api: Client, dispatching: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    app.answer_always("/down", Answer(500))
    subscription = await subscribe(api, f"{url}/down")
    await api.post("/v1/customers", json={})
    arrivals = await app.wait_for(3, "/down")
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    dead = await _eventually(lambda: _dead_letters(api, subscription["id"]))
    assert [d["eventId"] for d in dead] == [arrivals[0].headers["webhook-id"]]

    app.answer_always("/down", Answer(204))
    replay = await api.post(
        f"/v1/subscriptions/{subscription['id']}/replay", json={"since": "2000-01-01T00:00:00Z"}
    )
    assert replay.json()["queued"] == 1
    recovered = await app.wait_for(4, "/down")
    assert recovered[-1].headers["webhook-id"] == arrivals[0].headers["webhook-id"]
    assert await _eventually(lambda: _no_dead_letters(api, subscription["id"]))


async def _attempts(api: Client, subscription_id: str, count: int) -> list[dict[str, Any]]:
    log = (await api.get(f"/v1/subscriptions/{subscription_id}/deliveries")).json()["items"]
    return list(log) if len(log) >= count else []


async def _dead_letters(api: Client, subscription_id: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/subscriptions/{subscription_id}/dead-letters")
    return list(answer.json()["items"])


async def _no_dead_letters(api: Client, subscription_id: str) -> bool:
    return not await _dead_letters(api, subscription_id)


async def test_disabling_enabling_and_deleting_a_subscription(
    api: Client, worker: Worker, receiver: Receiver, redis: RedisCluster, keys: Keys
) -> None:
    """enable() and delete() are MULTI blocks, delete() with a DEL of five keys at once."""
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook")
    path = f"/v1/subscriptions/{subscription['id']}"
    off = await api.patch(path, json={"enabled": False})
    assert (off.json()["enabled"], off.json()["disabledReason"]) == (False, "manual")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    assert app.arrivals("/hook") == []  # a disabled subscription is sent nothing
    on = await api.patch(path, json={"enabled": True})
    assert on.json()["enabled"] is True
    await api.post("/v1/customers", json={})
    await worker.deliver()
    assert len(await app.wait_for(1, "/hook")) == 1
    assert await redis.exists(keys.attempts(subscription["id"])) == 1

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert await redis.exists(keys.attempts(subscription["id"])) == 0


async def _delivered_until_dead(worker: Worker, subscription_id: str) -> bool:
    await worker.deliver()
    return bool(await worker.deliveries.dead_letters(subscription_id))


# -- (d) the poll schedule and the shared rate limit ---------------------------------------


async def _watched(redis: RedisCluster, keys: Keys, count: int) -> list[str]:
    customers = [f"c-{n}" for n in range(count)]
    watchlist = WatchList(redis, keys)
    for customer in customers:
        await watchlist.watch(customer, "test")
    return customers


async def test_concurrent_claims_never_share_a_customer(redis: RedisCluster, keys: Keys) -> None:
    customers = await _watched(redis, keys, 100)
    schedules = [PollSchedule(redis, keys) for _ in range(4)]
    batches = await asyncio.gather(*(s.claim(f"w{n}", 40, 30) for n, s in enumerate(schedules)))
    claimed = [lease.item for batch in batches for lease in batch]
    assert sorted(claimed) == sorted(customers)
    assert await schedules[0].claim("late", 10, 30) == []


async def test_an_expired_lease_passes_on_and_a_poke_waits_for_the_running_poll(
    redis: RedisCluster, keys: Keys
) -> None:
    (customer,) = await _watched(redis, keys, 1)
    schedule = PollSchedule(redis, keys)
    (dead,) = await schedule.claim("dead-worker", 10, 0.2)
    assert await schedule.claim("other", 10, 30) == []
    await asyncio.sleep(0.25)
    (taken,) = await schedule.claim("other", 10, 30)
    assert taken.item == customer
    assert await schedule.complete(dead, int(time.time() * 1000), Cadence()) is False

    assert await schedule.poke(customer) is True  # during the poll: due right after it
    assert await schedule.claim("third", 10, 30) == []
    later = int(time.time() * 1000) + 60_000
    assert await schedule.complete(taken, later, Cadence(idle_streak=2)) is True
    (again,) = await schedule.claim("third", 10, 30)
    assert again.item == customer
    assert await schedule.cadence(customer) == Cadence(idle_streak=2)

    await WatchList(redis, keys).unwatch(customer)
    await schedule.complete(again, int(time.time() * 1000), Cadence())
    assert await schedule.size() == 0
    assert await schedule.poke(customer) is False


async def test_the_rate_limit_is_shared_and_a_pause_holds_every_caller_back(
    redis: RedisCluster, keys: Keys
) -> None:
    limiters = [UpstreamRateLimit(redis, keys, per_second=50) for _ in range(3)]
    started = time.monotonic()
    await asyncio.gather(*(limiters[n % 3].acquire() for n in range(20)))
    assert time.monotonic() - started >= 19 / 50 * 0.95

    fast = UpstreamRateLimit(redis, keys, per_second=1000)
    await fast.acquire()
    await UpstreamRateLimit(redis, keys, per_second=1000).pause(0.3)
    started = time.monotonic()
    await fast.acquire()
    assert time.monotonic() - started >= 0.25
    # Still there for the one-slot check after the test (it expires a second from now).
    assert await redis.exists(keys.upstream_rate) == 1


# -- (e) metrics ---------------------------------------------------------------------------


async def test_metrics_read_the_shared_backlog_from_the_cluster(
    api: Client, worker: Worker, receiver: Receiver, redis: RedisCluster
) -> None:
    app, url = receiver
    app.answer_always("/down", Answer(500))
    await subscribe(api, f"{url}/down")
    await api.post("/v1/customers", json={})
    await api.post("/v1/customers", json={})
    await worker.deliver()  # first attempts fail: two deliveries wait for their retry

    assert (await api.get("/health/ready")).json() == {"status": "ready"}
    text = (await api.get("/metrics", headers={"Authorization": ""})).text
    assert "bridge_stream_length 2.0" in text
    assert "bridge_watched_customers 2.0" in text
    assert "bridge_webhook_retry_backlog 2.0" in text
    assert "bridge_webhook_dead_letter_queue 0.0" in text
    assert 'bridge_stream_group_lag{group="bridge-dispatcher"} 0.0' in text
    assert 'bridge_stream_group_pending{group="bridge-dispatcher"} 0.0' in text

    port = free_port()
    probes = WorkerProbes(worker.redis, worker.keys, worker.metrics, host="127.0.0.1", port=port)
    await probes.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/health/ready")).json() == {"status": "ready"}
            scraped = (await http.get("/metrics")).text
        assert "bridge_webhook_retry_backlog 2.0" in scraped
        assert 'bridge_webhook_attempts_total{outcome="failed"} 2.0' in scraped
    finally:
        await probes.stop()


# -- (f) one slot --------------------------------------------------------------------------


async def test_every_key_of_a_full_run_lives_in_the_accounts_one_slot(
    api: Client,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    receiver: Receiver,
    redis: RedisCluster,
    keys: Keys,
) -> None:
    """Customers, idempotency, addresses, polling, the stream, deliveries, dead letters,
    inbound hints, rate limiting: then SCAN every node and ask each key's slot."""
    app, url = receiver
    app.answer_always("/down", Answer(500))
    healthy = await subscribe(api, f"{url}/hook")
    # One event only, so the circuit breaker (5 failures in a row) never holds it back.
    down = await subscribe(api, f"{url}/down", eventTypes=["deposit_address.issued"])
    await api.post("/v1/customers", json={"externalId": unique("slot")})
    await api.post("/v1/customers", json={}, headers={"Idempotency-Key": unique("slot")})
    customer, address = await new_customer_with_address(api)
    tx = await deposit(sandbox_control, address, AMOUNT)
    await poll_now(worker, customer)
    await sandbox_control.post(f"/sandbox/transactions/{tx}/advance")
    body = webhook(customer, webhook_id=777)
    hinted = await api.post(
        "/v1/calypso/webhooks",
        content=body,
        headers={"Content-Type": "application/json", "Sign": sign(body, "inbound-secret")},
    )
    assert hinted.status_code == 202
    await worker.drain()
    assert await _eventually(lambda: _delivered_until_dead(worker, down["id"]))
    await api.post(f"/v1/subscriptions/{healthy['id']}/test")
    await worker.deliver()
    await api.get("/metrics")

    found = await keys_by_slot(redis)
    expected = {
        keys.events,
        keys.watched,
        keys.poll_schedule,
        keys.poll_state,
        keys.subscriptions,
        keys.transactions(customer),
    }
    assert expected <= set(found)
    assert any(":idem:" in key for key in found)
    assert any(":inbound:" in key for key in found)
    assert any(key.endswith(":dead") for key in found)
    assert all(key.startswith(f"{keys.base}:") for key in found), sorted(found)
    assert set(found.values()) == {ACCOUNT_SLOT}
    owner = redis.nodes_manager.get_node_from_slot(ACCOUNT_SLOT)
    for node in redis.get_primaries():
        if node.name != owner.name:
            async with Redis(host=node.host, port=node.port) as direct:
                assert await direct.dbsize() == 0
