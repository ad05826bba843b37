"""Events reach subscribers signed, filtered, retried on schedule and never lost."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.api.app import create_app
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.support.config import TOKEN, make_settings, scenario_settings
from tests.support.reading import blocked_stream_readers, fanned_out, stream_entries, verified
from tests.support.receiver import Answer, WebhookReceiver
from tests.support.redis_modes import both_redis_modes
from tests.support.sandbox_server import RunningServer
from tests.support.steps import subscribe
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory

pytestmark = both_redis_modes

Api = httpx.AsyncClient


async def attempts(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    """The subscription's attempt log, newest first."""
    log = await api.get(f"/v1/subscriptions/{subscription_id}/deliveries")
    return list(log.json()["items"])


async def disabled(api: Api, subscription_id: str) -> dict[str, Any]:
    """The subscription once it is disabled (empty while it is enabled)."""
    state: dict[str, Any] = (await api.get(f"/v1/subscriptions/{subscription_id}")).json()
    return state if not state["enabled"] else {}


async def dead_letters(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/subscriptions/{subscription_id}/dead-letters")
    return list(answer.json()["items"])


async def test_an_event_arrives_signed_and_verifies_with_standard_webhooks(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    assert subscription["secret"].startswith("whsec_")
    customer = (await api.post("/v1/customers", json={"externalId": "hooked"})).json()
    await worker.deliver()
    (arrival,) = await receiver.wait_for(1, "/hook")
    event = verified(subscription["secret"], arrival)
    assert event["type"] == "customer.created"
    assert event["data"]["customerId"] == customer["id"]
    assert arrival.headers["webhook-id"] == event["id"]
    assert arrival.headers["content-type"] == "application/json"
    assert abs(int(arrival.headers["webhook-timestamp"]) - time.time()) < 5
    stream_body = json.loads(arrival.body)
    assert stream_body == event
    log = await attempts(api, subscription["id"])
    assert [(a["attempt"], a["outcome"]) for a in log] == [(1, "delivered")]


async def test_secrets_are_shown_once_and_never_listed(api: Api, receiver: WebhookReceiver) -> None:
    created = await subscribe(api, f"{receiver.url}/hook")
    listed = await api.get("/v1/subscriptions")
    one = await api.get(f"/v1/subscriptions/{created['id']}")
    assert created["secret"] not in listed.text
    assert created["secret"] not in one.text
    assert "secret" not in one.json()


async def test_filters_by_event_type_family_and_customer(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    first = (await api.post("/v1/customers", json={})).json()["id"]
    await subscribe(api, f"{receiver.url}/blocked", eventTypes=["customer.blocked"])
    await subscribe(api, f"{receiver.url}/family", eventTypes=["customer.*"], customerIds=[first])
    second = (await api.post("/v1/customers", json={})).json()["id"]
    for customer in (first, second):
        await api.post(f"/v1/customers/{customer}/block")
    await worker.deliver()
    blocked = [json.loads(a.body) for a in await receiver.wait_for(2, "/blocked")]
    assert {e["data"]["customerId"] for e in blocked} == {first, second}
    family = [json.loads(a.body) for a in await receiver.wait_for(1, "/family")]
    # Events from before the subscription existed are not sent; the first one's block is.
    assert [(e["type"], e["data"]["customerId"]) for e in family] == [("customer.blocked", first)]


async def test_a_failed_attempt_is_retried_on_schedule_and_then_delivered(
    api: Api, dispatching: Worker, receiver: WebhookReceiver
) -> None:
    receiver.answer_next("/flaky", Answer(500))
    subscription = await subscribe(api, f"{receiver.url}/flaky")
    await api.post("/v1/customers", json={})
    first, second = await receiver.wait_for(2, "/flaky")
    assert second.at - first.at >= 0.2
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verified(subscription["secret"], second)["type"] == "customer.created"

    async def both_logged() -> list[dict[str, Any]]:
        log = await attempts(api, subscription["id"])
        return log if len(log) == 2 else []

    log = await eventually(both_logged, what="two attempts logged")
    assert [(a["attempt"], a["status"]) for a in log] == [(2, 200), (1, 500)]


async def test_the_retry_schedule_is_followed_to_the_attempt_then_dead_letter(
    api: Api, dispatching: Worker, receiver: WebhookReceiver
) -> None:
    receiver.answer_always("/down", Answer(500))
    subscription = await subscribe(api, f"{receiver.url}/down")
    await api.post("/v1/customers", json={})
    arrivals = await receiver.wait_for(3, "/down")
    # A dead letter is never sent again: once it is there, no fourth attempt can come.
    dead = await eventually(lambda: dead_letters(api, subscription["id"]), what="a dead letter")
    assert [d["eventId"] for d in dead] == [arrivals[0].headers["webhook-id"]]
    assert len(receiver.arrivals("/down")) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    assert len({a.headers["webhook-id"] for a in arrivals}) == 1

    log = await attempts(api, subscription["id"])
    assert [a["attempt"] for a in log] == [3, 2, 1]
    assert [a["status"] for a in log] == [500, 500, 500]
    assert log[0]["nextAttemptAt"] is None
    assert log[1]["nextAttemptAt"] is not None
    assert log[0]["response"] == "ok"

    receiver.answer_always("/down", Answer(204))
    since = "2000-01-01T00:00:00Z"
    replay = await api.post(f"/v1/subscriptions/{subscription['id']}/replay", json={"since": since})
    assert replay.json()["queued"] == 1
    recovered = await receiver.wait_for(4, "/down")
    assert recovered[-1].headers["webhook-id"] == arrivals[0].headers["webhook-id"]

    async def no_dead_letters() -> bool:
        return not await dead_letters(api, subscription["id"])

    await eventually(no_dead_letters, what="the replayed dead letter settled")


async def test_retry_after_is_honoured_in_seconds_and_as_an_http_date(
    api: Api, dispatching: Worker, receiver: WebhookReceiver
) -> None:
    receiver.answer_next("/slow-down", Answer(429, {"Retry-After": "1"}))
    # The date is made as the answer is sent (not before the set-up): 2 s on, whole seconds.
    receiver.answer_next(
        "/busy", Answer(503, lambda: {"Retry-After": formatdate(time.time() + 2, usegmt=True)})
    )
    await subscribe(api, f"{receiver.url}/slow-down")
    await subscribe(api, f"{receiver.url}/busy")
    await api.post("/v1/customers", json={})
    limited = await receiver.wait_for(2, "/slow-down")
    busy = await receiver.wait_for(2, "/busy")
    assert limited[1].at - limited[0].at >= 1.0  # the schedule alone says 200 ms
    assert busy[1].at - busy[0].at >= 1.0  # a whole-second date at least 1 s after the answer


async def test_410_gone_disables_the_subscription(
    api: Api, dispatching: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    receiver.answer_always("/gone", Answer(410))
    subscription = await subscribe(api, f"{receiver.url}/gone")
    await api.post("/v1/customers", json={})
    await receiver.wait_for(1, "/gone")

    state = await eventually(lambda: disabled(api, subscription["id"]), what="disabled")
    assert state["disabledReason"] == "gone"
    await api.post("/v1/customers", json={})
    # Once the fan-out has read the second event, a delivery would exist if it were wanted.
    await eventually(lambda: fanned_out(redis, keys), what="the second event fanned out")
    assert await redis.zcard(keys.deliveries_due(subscription["id"])) == 0
    assert len(receiver.arrivals("/gone")) == 1


async def test_redirects_are_not_followed(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    receiver.answer_next("/moved", Answer(302, {"Location": f"{receiver.url}/elsewhere"}))
    subscription = await subscribe(api, f"{receiver.url}/moved")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    await receiver.wait_for(1, "/moved")
    assert receiver.arrivals("/elsewhere") == []
    log = await attempts(api, subscription["id"])
    assert (log[0]["status"], log[0]["outcome"]) == (302, "failed")


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    rotated = await api.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != subscription["secret"]
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (arrival,) = await receiver.wait_for(1, "/hook")
    assert len(arrival.headers["webhook-signature"].split(" ")) == 2
    assert verified(subscription["secret"], arrival) == verified(new_secret, arrival)


async def test_a_tampered_body_or_an_old_timestamp_fails_verification(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (arrival,) = await receiver.wait_for(1, "/hook")
    hook = Webhook(subscription["secret"])
    tampered = arrival.body.replace(b"customer", b"kustomer")
    stale = {**arrival.headers, "webhook-timestamp": str(int(time.time()) - 600)}
    for body, headers in ((tampered, arrival.headers), (arrival.body, stale)):
        with pytest.raises(WebhookVerificationError):
            hook.verify(body, headers)


async def test_ping_and_samples_of_any_type_are_marked_test(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    ping = await api.post(f"/v1/subscriptions/{subscription['id']}/test")
    sample = await api.post(
        f"/v1/subscriptions/{subscription['id']}/test", json={"type": "transaction.confirmed"}
    )
    assert (ping.status_code, sample.status_code) == (202, 202)
    await worker.deliver()
    events = [verified(subscription["secret"], a) for a in await receiver.wait_for(2, "/hook")]
    assert {e["type"] for e in events} == {"ping", "transaction.confirmed"}
    assert all(e["test"] is True for e in events)
    confirmed = next(e for e in events if e["type"] == "transaction.confirmed")
    assert confirmed["data"]["transaction"]["amount"] == "0.123456789012345678"


async def test_redeliver_sends_the_same_webhook_id_again(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    await subscribe(api, f"{receiver.url}/hook")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (first,) = await receiver.wait_for(1, "/hook")
    event_id = first.headers["webhook-id"]
    again = await api.post(f"/v1/events/{event_id}/redeliver")
    assert again.status_code == 202
    assert again.json()["queued"] == 1
    await worker.deliver()
    second = (await receiver.wait_for(2, "/hook"))[1]
    assert second.headers["webhook-id"] == event_id
    assert second.body == first.body


async def test_redeliver_of_an_unknown_event_or_to_an_unknown_subscription_is_a_404(
    api: Api,
) -> None:
    await api.post("/v1/customers", json={})
    event_id = (await api.get("/v1/events")).json()["items"][0]["id"]

    no_event = await api.post(f"/v1/events/evt_{'a' * 26}/redeliver")
    to_nobody = await api.post(
        f"/v1/events/{event_id}/redeliver", json={"subscriptionId": f"sub_{'a' * 24}"}
    )
    assert (no_event.status_code, no_event.json()["title"]) == (404, "No such event")
    assert (to_nobody.status_code, to_nobody.json()["title"]) == (404, "No such subscription")
    assert {no_event.json()["code"], to_nobody.json()["code"]} == {"not_found"}


async def test_a_subscription_failing_for_too_long_is_disabled(
    api: Api,
    workers: WorkerFactory,
    receiver: WebhookReceiver,
    redis_url: str,
    sandbox: RunningServer,
) -> None:
    receiver.answer_always("/flaky", Answer(500))
    subscription = await subscribe(api, f"{receiver.url}/flaky")
    impatient = workers(
        scenario_settings(
            redis_url,
            sandbox.url,
            BRIDGE_WEBHOOK_RETRY_SCHEDULE="0s,300ms,300ms,300ms",
            BRIDGE_WEBHOOK_DISABLE_AFTER="500ms",
        ),
        name="impatient",
    )
    workers.start(impatient.dispatcher.run)
    await api.post("/v1/customers", json={})

    state = await eventually(lambda: disabled(api, subscription["id"]), within=5)
    assert state["disabledReason"] == "failing"
    assert state["failingSince"] is not None
    re_enabled = await api.patch(f"/v1/subscriptions/{subscription['id']}", json={"enabled": True})
    assert (re_enabled.json()["enabled"], re_enabled.json()["failingSince"]) == (True, None)


async def test_disabling_enabling_and_deleting_a_subscription(
    api: Api, worker: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    """enable() and delete() are MULTI blocks, delete() with a DEL of several keys at once."""
    subscription = await subscribe(api, f"{receiver.url}/hook")
    path = f"/v1/subscriptions/{subscription['id']}"
    off = await api.patch(path, json={"enabled": False})
    assert (off.json()["enabled"], off.json()["disabledReason"]) == (False, "manual")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    assert receiver.arrivals("/hook") == []  # a disabled subscription is sent nothing
    on = await api.patch(path, json={"enabled": True})
    assert on.json()["enabled"] is True
    await api.post("/v1/customers", json={})
    await worker.deliver()
    assert len(await receiver.wait_for(1, "/hook")) == 1
    assert await redis.exists(keys.attempts(subscription["id"])) == 1

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert await redis.exists(keys.attempts(subscription["id"])) == 0


async def test_internal_urls_are_refused_at_subscribe_time_without_the_allow_list(
    redis_url: str, sandbox: RunningServer, redis: RedisClient
) -> None:
    strict = make_settings(redis_url, sandbox.url, BRIDGE_WEBHOOK_ALLOW_HTTP="true")
    async with AsyncTestClient(app=create_app(strict)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        for url in (
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://2130706433/",
        ):
            answer = await client.post("/v1/subscriptions", json={"url": url})
            assert answer.status_code == 422, url
            assert answer.json()["code"] == "url_refused"
        ftp = await client.post("/v1/subscriptions", json={"url": "ftp://example.com/"})
        assert ftp.status_code == 422


async def test_replay_since_a_time_brings_back_exactly_the_later_matching_events(
    api: Api, worker: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook", eventTypes=["customer.created"])
    for _ in range(3):
        await api.post("/v1/customers", json={})
    # "since" must fall after the earlier events' millisecond: wait until the clock says so.
    ((last_entry, _),) = await stream_entries(redis, keys.events, count=1, newest_first=True)
    earlier_ms = int(last_entry.decode().split("-")[0])
    await eventually(lambda: time.time() * 1000 > earlier_ms + 1, what="the next millisecond")
    since = time.time()
    later = [(await api.post("/v1/customers", json={})).json()["id"] for _ in range(2)]
    blocked = await api.post(f"/v1/customers/{later[0]}/block")  # not a matching type
    assert blocked.status_code == 200
    await worker.deliver()
    await receiver.wait_for(5, "/hook")

    moment = datetime.fromtimestamp(since, UTC).isoformat()
    replay = await api.post(
        f"/v1/subscriptions/{subscription['id']}/replay", json={"since": moment}
    )
    assert replay.json()["queued"] == 2
    await worker.deliver()
    replayed = [json.loads(a.body) for a in (await receiver.wait_for(7, "/hook"))[5:]]
    assert sorted(e["data"]["customerId"] for e in replayed) == sorted(later)


async def test_a_subscription_made_while_the_dispatcher_waits_gets_the_next_event(
    api: Api, dispatching: Worker, receiver: WebhookReceiver, redis: RedisClient
) -> None:
    # The race needs the fan-out already blocked in XREADGROUP when the subscription is made.
    await eventually(
        lambda: blocked_stream_readers(redis), what="the fan-out blocked on the stream"
    )
    await subscribe(api, f"{receiver.url}/hook")
    created = (await api.post("/v1/customers", json={})).json()
    (arrival,) = await receiver.wait_for(1, "/hook")
    assert json.loads(arrival.body)["data"]["customerId"] == created["id"]
