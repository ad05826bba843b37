"""Events reach subscribers signed, filtered, retried on schedule and never lost."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from email.utils import formatdate
from typing import Any

import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.worker import Worker
from tests.delivery.conftest import subscribe
from tests.support.webhook_receiver import Answer, WebhookReceiver

Receiver = tuple[WebhookReceiver, str]


def verified(secret: str, arrival: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(arrival.body, arrival.headers)
    return payload


async def test_an_event_arrives_signed_and_verifies_with_standard_webhooks(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook")
    assert subscription["secret"].startswith("whsec_")
    customer = (await api.post("/v1/customers", json={"externalId": "hooked"})).json()
    await worker.deliver()
    (arrival,) = await app.wait_for(1, "/hook")
    event = verified(subscription["secret"], arrival)
    assert event["type"] == "customer.created"
    assert event["data"]["customerId"] == customer["id"]
    assert arrival.headers["webhook-id"] == event["id"]
    assert arrival.headers["content-type"] == "application/json"
    assert abs(int(arrival.headers["webhook-timestamp"]) - time.time()) < 5
    stream_body = json.loads(arrival.body)
    assert stream_body == event


async def test_secrets_are_shown_once_and_never_listed(api: Any, receiver: Receiver) -> None:
    _, url = receiver
    created = await subscribe(api, f"{url}/hook")
    listed = await api.get("/v1/subscriptions")
    one = await api.get(f"/v1/subscriptions/{created['id']}")
    assert created["secret"] not in listed.text
    assert created["secret"] not in one.text
    assert "secret" not in one.json()


async def test_filters_by_event_type_family_and_customer(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    first = (await api.post("/v1/customers", json={})).json()["id"]
    await subscribe(api, f"{url}/blocked", eventTypes=["customer.blocked"])
    await subscribe(api, f"{url}/family", eventTypes=["customer.*"], customerIds=[first])
    second = (await api.post("/v1/customers", json={})).json()["id"]
    for customer in (first, second):
        await api.post(f"/v1/customers/{customer}/block")
    await worker.deliver()
    blocked = [json.loads(a.body) for a in await app.wait_for(2, "/blocked")]
    assert {e["data"]["customerId"] for e in blocked} == {first, second}
    family = [json.loads(a.body) for a in await app.wait_for(1, "/family")]
    # Events from before the subscription existed are not sent; the first one's block is.
    assert [(e["type"], e["data"]["customerId"]) for e in family] == [("customer.blocked", first)]


async def test_the_retry_schedule_is_followed_to_the_attempt_then_dead_letter(
    api: Any, dispatching: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    app.answer_always("/down", Answer(500))
    subscription = await subscribe(api, f"{url}/down")
    await api.post("/v1/customers", json={})
    arrivals = await app.wait_for(3, "/down")
    await asyncio.sleep(0.8)  # a fourth attempt would have come by now
    assert len(app.arrivals("/down")) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    assert len({a.headers["webhook-id"] for a in arrivals}) == 1

    log = (await api.get(f"/v1/subscriptions/{subscription['id']}/deliveries")).json()
    assert [a["attempt"] for a in log["items"]] == [3, 2, 1]
    assert [a["status"] for a in log["items"]] == [500, 500, 500]
    assert log["items"][0]["nextAttemptAt"] is None
    assert log["items"][1]["nextAttemptAt"] is not None
    assert log["items"][0]["response"] == "ok"
    dead = (await api.get(f"/v1/subscriptions/{subscription['id']}/dead-letters")).json()
    assert [d["eventId"] for d in dead["items"]] == [arrivals[0].headers["webhook-id"]]

    app.answer_always("/down", Answer(204))
    since = "2000-01-01T00:00:00Z"
    replay = await api.post(f"/v1/subscriptions/{subscription['id']}/replay", json={"since": since})
    assert replay.json()["queued"] == 1
    recovered = await app.wait_for(4, "/down")
    assert recovered[-1].headers["webhook-id"] == arrivals[0].headers["webhook-id"]
    await asyncio.sleep(0.1)
    dead = (await api.get(f"/v1/subscriptions/{subscription['id']}/dead-letters")).json()
    assert dead["items"] == []


async def test_retry_after_is_honoured_in_seconds_and_as_an_http_date(
    api: Any, dispatching: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    app.answer_next("/slow-down", Answer(429, {"Retry-After": "1"}))
    app.answer_next("/busy", Answer(503, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}))
    await subscribe(api, f"{url}/slow-down")
    await subscribe(api, f"{url}/busy")
    await api.post("/v1/customers", json={})
    limited = await app.wait_for(2, "/slow-down")
    busy = await app.wait_for(2, "/busy")
    assert limited[1].at - limited[0].at >= 1.0  # the schedule alone says 200 ms
    assert busy[1].at - busy[0].at >= 1.0  # the date is whole seconds: at least 1 s later


async def test_410_gone_disables_the_subscription(
    api: Any, dispatching: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    app.answer_always("/gone", Answer(410))
    subscription = await subscribe(api, f"{url}/gone")
    await api.post("/v1/customers", json={})
    await app.wait_for(1, "/gone")
    await asyncio.sleep(0.5)
    await api.post("/v1/customers", json={})
    await asyncio.sleep(0.5)
    assert len(app.arrivals("/gone")) == 1
    state = (await api.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert (state["enabled"], state["disabledReason"]) == (False, "gone")


async def test_redirects_are_not_followed(api: Any, worker: Worker, receiver: Receiver) -> None:
    app, url = receiver
    app.answer_next("/moved", Answer(302, {"Location": f"{url}/elsewhere"}))
    subscription = await subscribe(api, f"{url}/moved")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    await app.wait_for(1, "/moved")
    assert app.arrivals("/elsewhere") == []
    log = (await api.get(f"/v1/subscriptions/{subscription['id']}/deliveries")).json()
    assert (log["items"][0]["status"], log["items"][0]["outcome"]) == (302, "failed")


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook")
    rotated = await api.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != subscription["secret"]
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (arrival,) = await app.wait_for(1, "/hook")
    assert len(arrival.headers["webhook-signature"].split(" ")) == 2
    assert verified(subscription["secret"], arrival) == verified(new_secret, arrival)


async def test_a_tampered_body_or_an_old_timestamp_fails_verification(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (arrival,) = await app.wait_for(1, "/hook")
    hook = Webhook(subscription["secret"])
    tampered = arrival.body.replace(b"customer", b"kustomer")
    stale = {**arrival.headers, "webhook-timestamp": str(int(time.time()) - 600)}
    for body, headers in ((tampered, arrival.headers), (arrival.body, stale)):
        with pytest.raises(WebhookVerificationError):
            hook.verify(body, headers)


async def test_ping_and_samples_of_any_type_are_marked_test(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook")
    ping = await api.post(f"/v1/subscriptions/{subscription['id']}/test")
    sample = await api.post(
        f"/v1/subscriptions/{subscription['id']}/test", json={"type": "transaction.confirmed"}
    )
    assert (ping.status_code, sample.status_code) == (202, 202)
    await worker.deliver()
    events = [verified(subscription["secret"], a) for a in await app.wait_for(2, "/hook")]
    assert {e["type"] for e in events} == {"ping", "transaction.confirmed"}
    assert all(e["test"] is True for e in events)
    confirmed = next(e for e in events if e["type"] == "transaction.confirmed")
    assert confirmed["data"]["transaction"]["amount"] == "0.123456789012345678"


async def test_redeliver_sends_the_same_webhook_id_again(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    await subscribe(api, f"{url}/hook")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (first,) = await app.wait_for(1, "/hook")
    event_id = first.headers["webhook-id"]
    again = await api.post(f"/v1/events/{event_id}/redeliver")
    assert again.status_code == 202
    assert again.json()["queued"] == 1
    await worker.deliver()
    second = (await app.wait_for(2, "/hook"))[1]
    assert second.headers["webhook-id"] == event_id
    assert second.body == first.body


async def test_redeliver_of_an_unknown_event_or_to_an_unknown_subscription_is_a_404(
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    await subscribe(api, f"{url}/hook")
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (first,) = await app.wait_for(1, "/hook")
    event_id = first.headers["webhook-id"]

    no_event = await api.post(f"/v1/events/evt_{'a' * 26}/redeliver")
    to_nobody = await api.post(
        f"/v1/events/{event_id}/redeliver", json={"subscriptionId": f"sub_{'a' * 24}"}
    )
    assert (no_event.status_code, no_event.json()["title"]) == (404, "No such event")
    assert (to_nobody.status_code, to_nobody.json()["title"]) == (404, "No such subscription")
    assert {no_event.json()["code"], to_nobody.json()["code"]} == {"not_found"}


async def test_a_subscription_failing_for_too_long_is_disabled(
    api: Any, redis: Redis, receiver: Receiver, redis_url: str, sandbox: Any
) -> None:
    from bridge.worker import Worker as W
    from tests.conftest import make_settings

    app, url = receiver
    app.answer_always("/flaky", Answer(500))
    subscription = await subscribe(api, f"{url}/flaky")
    impatient = W(
        make_settings(
            redis_url,
            sandbox.url,
            BRIDGE_WEBHOOK_ALLOW_HTTP="true",
            BRIDGE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
            BRIDGE_WEBHOOK_RETRY_SCHEDULE="0s,300ms,300ms,300ms",
            BRIDGE_WEBHOOK_DISABLE_AFTER="500ms",
        )
    )
    stop = asyncio.Event()
    task = asyncio.create_task(impatient.dispatcher.run(stop))
    try:
        await api.post("/v1/customers", json={})
        deadline = time.monotonic() + 5
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = (await api.get(f"/v1/subscriptions/{subscription['id']}")).json()
            if not state["enabled"]:
                break
            await asyncio.sleep(0.05)
        assert (state["enabled"], state["disabledReason"]) == (False, "failing")
        assert state["failingSince"] is not None
        re_enabled = await api.patch(
            f"/v1/subscriptions/{subscription['id']}", json={"enabled": True}
        )
        assert (re_enabled.json()["enabled"], re_enabled.json()["failingSince"]) == (True, None)
    finally:
        stop.set()
        await task
        await impatient.aclose()


async def test_internal_urls_are_refused_at_subscribe_time_without_the_allow_list(
    redis_url: str, sandbox: Any, redis: Redis
) -> None:
    from litestar.testing import AsyncTestClient

    from bridge.api.app import create_app
    from tests.conftest import TOKEN, make_settings

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
    api: Any, worker: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    subscription = await subscribe(api, f"{url}/hook", eventTypes=["customer.created"])
    for _ in range(3):
        await api.post("/v1/customers", json={})
    await asyncio.sleep(0.01)
    since = time.time()
    later = [(await api.post("/v1/customers", json={})).json()["id"] for _ in range(2)]
    blocked = await api.post(f"/v1/customers/{later[0]}/block")  # not a matching type
    assert blocked.status_code == 200
    await worker.deliver()
    await app.wait_for(5, "/hook")

    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(since, UTC).isoformat()
    replay = await api.post(
        f"/v1/subscriptions/{subscription['id']}/replay", json={"since": moment}
    )
    assert replay.json()["queued"] == 2
    await worker.deliver()
    replayed = [json.loads(a.body) for a in (await app.wait_for(7, "/hook"))[5:]]
    assert sorted(e["data"]["customerId"] for e in replayed) == sorted(later)


async def test_a_subscription_made_while_the_dispatcher_waits_gets_the_next_event(
    api: Any, dispatching: Worker, receiver: Receiver
) -> None:
    app, url = receiver
    await asyncio.sleep(0.3)  # the fan-out is now blocked reading the stream
    await subscribe(api, f"{url}/hook")
    created = (await api.post("/v1/customers", json={})).json()
    (arrival,) = await app.wait_for(1, "/hook")
    assert json.loads(arrival.body)["data"]["customerId"] == created["id"]
