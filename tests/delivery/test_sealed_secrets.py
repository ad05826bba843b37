"""Subscription secrets sealed at rest: nothing in Redis reveals one, deliveries still verify,
the sealing key rotates by reseal, and a secret that does not open fails visibly."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from typing import Any, cast

import httpx
import pytest

from bridge.config import Settings
from bridge.reseal import reseal_accounts
from bridge.store.connection import RedisClient
from bridge.worker import Worker
from tests.support.config import ACCOUNT, SECRETS_KEYS, scenario_settings, worker_env
from tests.support.reading import verified
from tests.support.receiver import WebhookReceiver
from tests.support.steps import deposit, new_customer_with_address, poll_now, subscribe
from tests.support.waiting import eventually
from tests.support.workers import WorkerFactory

Api = httpx.AsyncClient
NEW_KEYS = "k2:" + base64.b64encode(b"the next sealing key, 32 bytes!!").decode()


def with_keys(settings: Settings, keys: str) -> Settings:
    """The test's settings with another key ring, as a redeployment with new keys has."""
    return scenario_settings(
        settings.redis_url, settings.calypso_base_url, BRIDGE_SECRETS_KEYS=keys
    )


async def rotate(api: Api, subscription_id: str) -> str:
    answer = await api.post(f"/v1/subscriptions/{subscription_id}/rotate-secret")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["secret"])


async def everything_in_redis(redis: RedisClient) -> list[bytes]:
    """Every key name and every value, read by the key's type."""
    found: list[bytes] = []
    async for key in redis.scan_iter(count=500):
        found.append(key)
        kind = cast(bytes, await redis.type(key)).decode()
        read: Any
        if kind == "string":
            found.append(cast(bytes, await redis.get(key)))
        elif kind == "hash":
            read = await redis.hgetall(key)
            for field, value in cast(dict[bytes, bytes], read).items():
                found += [field, value]
        elif kind == "list":
            found += cast(list[bytes], await redis.lrange(key, 0, -1))
        elif kind == "set":
            found += cast(set[bytes], await redis.smembers(key))
        elif kind == "zset":
            read = await redis.zrange(key, 0, -1, withscores=True)
            for member, score in cast(list[tuple[bytes, float]], read):
                found += [member, str(score).encode()]
        elif kind == "stream":
            read = await redis.xrange(key)
            for entry_id, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], read):
                found.append(entry_id)
                for field, value in fields.items():
                    found += [field, value]
        else:
            raise AssertionError(f"{key!r}: a {kind} this walk cannot read")
    return found


def assert_no_secret_in(values: list[bytes], secrets: set[str]) -> None:
    assert secrets
    forms = set()
    for secret in secrets:
        body = secret.removeprefix("whsec_")
        forms |= {secret, body, body.rstrip("="), base64.b64decode(body).hex()}
    for value in values:
        for form in forms:
            assert form.encode() not in value, "a secret is readable in Redis"


async def test_after_a_lifecycle_with_rotations_no_secret_is_readable_anywhere_in_redis(
    api: Api,
    worker: Worker,
    receiver: WebhookReceiver,
    redis: RedisClient,
    sandbox_control: httpx.AsyncClient,
) -> None:
    plain = await subscribe(api, f"{receiver.url}/plain")
    ordered = await subscribe(api, f"{receiver.url}/ordered", ordering="customer")
    issued = {plain["secret"], ordered["secret"]}
    for subscription in (plain, ordered):
        for _ in range(2):
            issued.add(await rotate(api, subscription["id"]))
    edited = await api.patch(f"/v1/subscriptions/{plain['id']}", json={"description": "edited"})
    assert edited.status_code == 200, edited.text
    latest = await rotate(api, plain["id"])
    issued.add(latest)
    customer, address = await new_customer_with_address(api)
    await deposit(sandbox_control, address, "1.5")
    await poll_now(worker, customer)
    tested = await api.post(f"/v1/subscriptions/{ordered['id']}/test", json={})
    assert tested.status_code == 202, tested.text
    await worker.deliver()
    arrivals = await receiver.wait_for(2, "/plain")
    # Every delivery verifies with the secret the API showed last, and with the first one
    # while its overlap lasts.
    for arrival in arrivals:
        assert verified(latest, arrival) == verified(plain["secret"], arrival)
    assert await receiver.wait_for(3, "/ordered")
    everything = await everything_in_redis(redis)
    assert sum(b"sealed:test:" in value for value in everything) == 2  # the walk reads them
    assert_no_secret_in(everything, issued)


async def test_a_reseal_under_a_new_key_keeps_every_subscription_delivering(
    api: Api, worker: Worker, workers: WorkerFactory, receiver: WebhookReceiver
) -> None:
    first = await subscribe(api, f"{receiver.url}/first")
    second = await subscribe(api, f"{receiver.url}/second")
    rotated = await rotate(api, second["id"])
    both = with_keys(worker.settings, f"{NEW_KEYS},{SECRETS_KEYS}")
    resealing = workers(both, name="resealing")

    [report] = await reseal_accounts({ACCOUNT: resealing.subscriptions})
    assert (report.resealed, report.current, report.failed) == (2, 0, False)
    for stored in await resealing.subscriptions.all():
        held = [stored.secret, *(p.secret for p in stored.previousSecrets)]
        assert all(value.startswith("sealed:k2:") for value in held)
    [again] = await reseal_accounts({ACCOUNT: resealing.subscriptions})
    assert (again.resealed, again.current) == (0, 2)

    # The old key dropped: deliveries go on, verifiable with the secrets the API showed.
    only_new = workers(with_keys(worker.settings, NEW_KEYS), name="new-key-only")
    await api.post("/v1/customers", json={})
    await only_new.deliver()
    (to_first,) = await receiver.wait_for(1, "/first")
    (to_second,) = await receiver.wait_for(1, "/second")
    verified(first["secret"], to_first)
    assert verified(rotated, to_second) == verified(second["secret"], to_second)


async def test_a_reseal_keeps_a_rotation_that_lands_while_it_works(
    api: Api,
    worker: Worker,
    workers: WorkerFactory,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    resealing = workers(with_keys(worker.settings, f"{NEW_KEYS},{SECRETS_KEYS}"), name="r")
    store = resealing.subscriptions
    swap = store._swap
    rotated: list[str] = []

    async def rotation_first(keys: Any, args: Any) -> int:
        if not rotated:  # a rotation lands between the reseal's read and its write
            rotated.append(await rotate(api, subscription["id"]))
        return await swap(keys, args)

    monkeypatch.setattr(store, "_swap", rotation_first)
    assert await store.reseal(subscription["id"]) == "resealed"
    stored = await store.get(subscription["id"])
    assert stored is not None
    assert store.signing_secrets(stored, 0) == [rotated[0], subscription["secret"]]
    assert stored.secret.startswith("sealed:k2:")


async def test_a_secret_whose_key_left_the_ring_fails_its_deliveries_visibly_and_nothing_else(
    api: Api, settings: Settings, workers: WorkerFactory, receiver: WebhookReceiver
) -> None:
    lost = await subscribe(api, f"{receiver.url}/lost")
    missing = workers(with_keys(settings, NEW_KEYS), name="missing-key")
    # A subscription sealed under the worker's own key delivers beside it, in the same run.
    kept = await missing.subscriptions.create(f"{receiver.url}/kept")
    await api.post("/v1/customers", json={})
    await missing.deliver()
    (arrival,) = await receiver.wait_for(1, "/kept")
    verified(kept.secret, arrival)
    assert receiver.arrivals("/lost") == []

    page = (await api.get(f"/v1/subscriptions/{lost['id']}/deliveries")).json()
    [attempt] = page["items"]
    assert attempt["outcome"] == "error"
    assert "cannot be opened" in attempt["error"]
    assert "k2" not in attempt["error"]  # the key it names is the one sealing it: "test"
    assert "test" in attempt["error"]
    assert lost["secret"].removeprefix("whsec_") not in str(page)
    failures = missing.metrics.registry.get_sample_value(
        "bridge_secrets_unreadable_total",
        {"account": settings.calypso_account, "cause": "unknown_key"},
    )
    assert failures == 1

    # The key back in the ring: the retry goes out and verifies.
    restored = workers(with_keys(settings, f"{NEW_KEYS},{SECRETS_KEYS}"), name="restored")

    async def retried() -> list[Any]:
        await restored.deliver()
        return receiver.arrivals("/lost")

    (late,) = await eventually(retried, what="the retry with the key restored")
    verified(lost["secret"], late)


async def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A process of its own, waited for off the event loop."""
    return await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_bridge_secrets_reseal_prints_counts_and_is_idempotent(
    settings: Settings, redis_url: str, redis: RedisClient
) -> None:
    """The command as an operator runs it (``redis``: flushed for this test)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **worker_env(redis_url, settings.calypso_base_url),
    }
    seed = await run([sys.executable, "-c", SEED], env)
    assert seed.stdout.strip() == "2", seed.stderr
    reseal = [sys.executable, "-m", "bridge", "secrets", "reseal"]
    both = {**env, "BRIDGE_SECRETS_KEYS": f"{NEW_KEYS},{SECRETS_KEYS}"}
    first, second = [await run(reseal, both) for _ in range(2)]
    assert (first.returncode, second.returncode) == (0, 0), (first.stderr, second.stderr)
    assert "2 subscriptions: 2 resealed (1 of them from plain text)" in first.stdout
    assert "2 subscriptions: 0 resealed (0 of them from plain text), 2 already" in second.stdout
    lost = {**env, "BRIDGE_SECRETS_KEYS": "k3:" + base64.b64encode(b"3" * 32).decode()}
    missing = await run(reseal, lost)
    assert missing.returncode == 1
    assert "2 unreadable" in missing.stdout


# Two subscriptions: one written by this release (sealed under the test key), one as an
# earlier release wrote it (plain text).
SEED = f"""
import asyncio, os, sys
import msgspec
from bridge.config import Settings
from bridge.wiring import Components

async def main():
    components = Components(Settings.from_env(os.environ))
    store = components.subscriptions
    await store.create("https://example.com/sealed")
    legacy = {{"id": "sub_{"a" * 24}", "url": "https://example.com/plain",
              "secret": "whsec_{base64.b64encode(b"p" * 24).decode()}",
              "createdAt": 1, "updatedAt": 1}}
    await components.redis.hset(components.keys.subscriptions, legacy["id"],
                                msgspec.json.encode(legacy))
    print(len(await store.ids()))
    await components.aclose()

asyncio.run(main())
"""
