"""Dead letters keep the event's bytes, outlive the stream, and expire on their own clock."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from bridge.worker import Worker
from tests.support.config import scenario_settings
from tests.support.reading import verified
from tests.support.receiver import Answer, Arrival, WebhookReceiver
from tests.support.redis_modes import both_redis_modes
from tests.support.sandbox_server import RunningServer
from tests.support.steps import subscribe
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory

pytestmark = both_redis_modes

Api = httpx.AsyncClient


async def dead_letters(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/subscriptions/{subscription_id}/dead-letters")
    return list(answer.json()["items"])


async def subscription_state(api: Api, subscription_id: str) -> dict[str, Any]:
    state: dict[str, Any] = (await api.get(f"/v1/subscriptions/{subscription_id}")).json()
    return state


async def trim_the_stream(redis: RedisClient, keys: Keys) -> None:
    """What the stream's retention (age or ``BRIDGE_STREAM_MAX_LENGTH``) does to old entries,
    done at once and exactly: every entry is gone."""
    await redis.xtrim(keys.events, maxlen=0, approximate=False)
    assert await redis.xlen(keys.events) == 0


async def dead_letter_of_a_trimmed_event(
    api: Api, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> tuple[dict[str, Any], Arrival]:
    """A subscription whose one event used up every attempt, then left the stream."""
    receiver.answer_always("/down", Answer(500))
    subscription = await subscribe(api, f"{receiver.url}/down")
    await api.post("/v1/customers", json={})
    first, *_ = await receiver.wait_for(3, "/down")
    await eventually(lambda: dead_letters(api, subscription["id"]), what="a dead letter")
    await trim_the_stream(redis, keys)
    receiver.answer_always("/down", Answer(204))
    return subscription, first


async def test_redeliver_sends_a_dead_letter_whose_event_left_the_stream(
    api: Api, dispatching: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    subscription, first = await dead_letter_of_a_trimmed_event(api, receiver, redis, keys)
    event_id = first.headers["webhook-id"]
    assert (await api.get(f"/v1/events/{event_id}")).status_code == 404

    again = await api.post(f"/v1/events/{event_id}/redeliver")
    assert (again.status_code, again.json()["queued"]) == (202, 1), again.text
    recovered = (await receiver.wait_for(4, "/down"))[-1]
    assert recovered.headers["webhook-id"] == event_id
    assert recovered.body == first.body
    assert verified(subscription["secret"], recovered)["id"] == event_id

    async def settled() -> bool:
        return not await dead_letters(api, subscription["id"])

    await eventually(settled, what="the redelivered dead letter settled")
    attempts = (await api.get(f"/v1/subscriptions/{subscription['id']}/deliveries")).json()
    assert attempts["items"][0]["test"] is False  # kept bytes are the event, not a sample


async def test_redeliver_to_one_subscription_sends_its_dead_letter_after_the_trim(
    api: Api, dispatching: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    subscription, first = await dead_letter_of_a_trimmed_event(api, receiver, redis, keys)
    event_id = first.headers["webhook-id"]
    again = await api.post(
        f"/v1/events/{event_id}/redeliver", json={"subscriptionId": subscription["id"]}
    )
    assert (again.status_code, again.json()["queued"]) == (202, 1), again.text
    recovered = (await receiver.wait_for(4, "/down"))[-1]
    assert (recovered.headers["webhook-id"], recovered.body) == (event_id, first.body)


async def test_replay_brings_back_a_dead_letter_whose_event_left_the_stream(
    api: Api, dispatching: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    subscription, first = await dead_letter_of_a_trimmed_event(api, receiver, redis, keys)
    replay = await api.post(
        f"/v1/subscriptions/{subscription['id']}/replay", json={"since": "2000-01-01T00:00:00Z"}
    )
    assert replay.json()["queued"] == 1
    recovered = (await receiver.wait_for(4, "/down"))[-1]
    assert (recovered.headers["webhook-id"], recovered.body) == (
        first.headers["webhook-id"],
        first.body,
    )


async def test_replay_since_after_a_dead_letter_leaves_it_where_it_is(
    api: Api, dispatching: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    subscription, _ = await dead_letter_of_a_trimmed_event(api, receiver, redis, keys)
    replay = await api.post(
        f"/v1/subscriptions/{subscription['id']}/replay", json={"since": "2999-01-01T00:00:00Z"}
    )
    assert replay.json()["queued"] == 0
    assert len(await dead_letters(api, subscription["id"])) == 1


async def test_a_410_leaves_its_delivery_as_a_dead_letter_that_says_gone(
    api: Api, dispatching: Worker, receiver: WebhookReceiver
) -> None:
    receiver.answer_always("/gone", Answer(410))
    subscription = await subscribe(api, f"{receiver.url}/gone")
    await api.post("/v1/customers", json={})
    (arrival,) = await receiver.wait_for(1, "/gone")

    (letter,) = await eventually(lambda: dead_letters(api, subscription["id"]), what="gone")
    assert (letter["eventId"], letter["lastOutcome"], letter["attempts"]) == (
        arrival.headers["webhook-id"],
        "gone",
        1,
    )

    async def disabled() -> dict[str, Any]:
        state = await subscription_state(api, subscription["id"])
        return {} if state["enabled"] else state

    # The settler disables the subscription just after writing the dead letter.
    state = await eventually(disabled, what="the subscription disabled")
    assert state["disabledReason"] == "gone"


async def test_dead_letters_are_removed_once_older_than_their_retention(
    api: Api,
    workers: WorkerFactory,
    receiver: WebhookReceiver,
    redis: RedisClient,
    redis_url: str,
    sandbox: RunningServer,
    keys: Keys,
) -> None:
    short = scenario_settings(redis_url, sandbox.url, BRIDGE_DEAD_LETTER_RETENTION="1s")
    forgetful = workers(short, name="forgetful")
    workers.start(forgetful.dispatcher.run)
    workers.start(forgetful.dead_letter_retention.run)
    receiver.answer_always("/down", Answer(500))
    subscription = await subscribe(api, f"{receiver.url}/down")
    await api.post("/v1/customers", json={})
    await eventually(lambda: dead_letters(api, subscription["id"]), what="a dead letter")

    async def expired() -> bool:
        return not await dead_letters(api, subscription["id"])

    await eventually(expired, within=5, what="the dead letter past its retention removed")
    assert await redis.exists(keys.deliveries_dead(subscription["id"])) == 0
    assert await redis.exists(keys.deliveries_dead_since(subscription["id"])) == 0


async def test_a_dead_letter_of_an_event_that_left_the_stream_keeps_the_failing_clock(
    api: Api, worker: Worker, receiver: WebhookReceiver, redis: RedisClient, keys: Keys
) -> None:
    receiver.answer_always("/down", Answer(500))
    subscription = await subscribe(api, f"{receiver.url}/down")
    for _ in range(2):
        await api.post("/v1/customers", json={})
    await worker.deliver()  # both first attempts fail: the failing clock starts
    failing_since = (await subscription_state(api, subscription["id"]))["failingSince"]
    assert failing_since is not None
    await trim_the_stream(redis, keys)

    async def both_dead() -> bool:
        await worker.deliver()  # the retries come due 200 ms on; their events are gone
        return len(await dead_letters(api, subscription["id"])) == 2

    await eventually(both_dead, what="both deliveries dead-lettered")
    letters = await dead_letters(api, subscription["id"])
    assert {d["lastOutcome"] for d in letters} == {"event no longer in stream"}
    # Nothing reached the receiver since: the endpoint has not recovered.
    assert len(receiver.arrivals("/down")) == 2
    state = await subscription_state(api, subscription["id"])
    assert state["failingSince"] == failing_since
