"""Secret rotation: every secret still inside its overlap signs; none signs after it."""

from __future__ import annotations

import time

import httpx

from bridge.delivery.subscriptions import ROTATION_OVERLAP_MS
from bridge.worker import Worker
from tests.support.reading import verified
from tests.support.receiver import WebhookReceiver
from tests.support.redis_modes import both_redis_modes
from tests.support.steps import subscribe
from tests.support.waiting import eventually

pytestmark = both_redis_modes

Api = httpx.AsyncClient


async def rotate(api: Api, subscription_id: str) -> str:
    """The new secret."""
    answer = await api.post(f"/v1/subscriptions/{subscription_id}/rotate-secret")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["secret"])


async def test_a_second_rotation_within_the_overlap_keeps_signing_with_the_first_secret(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    second = await rotate(api, subscription["id"])
    third = await rotate(api, subscription["id"])
    await api.post("/v1/customers", json={})
    await worker.deliver()
    (arrival,) = await receiver.wait_for(1, "/hook")
    assert len(arrival.headers["webhook-signature"].split(" ")) == 3
    event = verified(subscription["secret"], arrival)
    assert verified(second, arrival) == verified(third, arrival) == event


async def test_each_old_secret_stops_signing_when_its_own_overlap_ends(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    first = subscription["secret"]
    second = await rotate(api, subscription["id"])
    rotated_ms = int(time.time() * 1000)
    # The rotations must fall in different milliseconds: wait until the clock says so.
    await eventually(lambda: time.time() * 1000 > rotated_ms + 1, what="the next millisecond")
    third = await rotate(api, subscription["id"])
    stored = await worker.subscriptions.get(subscription["id"])
    assert stored is not None
    now = int(time.time() * 1000)
    signing = worker.subscriptions.signing_secrets
    assert signing(stored, now) == [third, second, first]
    second_ends, first_ends = (p.expiresAt for p in stored.previousSecrets)  # newest first
    assert now < first_ends < second_ends <= now + ROTATION_OVERLAP_MS
    assert signing(stored, first_ends - 1) == [third, second, first]
    assert signing(stored, first_ends) == [third, second]
    assert signing(stored, second_ends) == [third]


async def test_a_rotation_forgets_secrets_whose_overlap_has_ended(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    await rotate(api, subscription["id"])
    stored = await worker.subscriptions.get(subscription["id"])
    assert stored is not None
    # The first old secret's overlap has ended by the time of the next rotation.
    later = int(time.time() * 1000) + ROTATION_OVERLAP_MS
    [current, _] = worker.subscriptions.signing_secrets(stored, int(time.time() * 1000))
    rotated = await worker.subscriptions.rotate_secret(stored, now_ms=later)
    assert [p.secret for p in rotated.previousSecrets] == [current]
    kept = await worker.subscriptions.get(subscription["id"])
    assert kept is not None
    assert worker.subscriptions.signing_secrets(kept, later) == [rotated.secret, current]
