"""``EventConsumer`` on a real Redis: typed events of every type, acknowledged after the
handler; a consumer SIGKILLed between read and ack loses nothing to a second one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from redis.asyncio import Redis

from bridge.client import Event, EventType
from bridge.client.consumer import EventConsumer, stream_key
from bridge.events.samples import sample_event
from bridge.events.stream import EventLog
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.acl_users import AclUsers
from tests.support.config import ACCOUNT
from tests.support.waiting import eventually

SUBSCRIPTION = "sub_" + "a" * 24


async def write_samples(redis: RedisClient, rounds: int = 1) -> list[Event]:
    """Sample events of every type, written by the bridge's own stream writer."""
    events = [
        sample_event(ACCOUNT, kind, SUBSCRIPTION) for _ in range(rounds) for kind in EventType
    ]
    await EventLog(redis, Keys("bridge", ACCOUNT), retention=3600).append(events)
    return events


async def test_the_stream_key_is_the_bridges(keys: Keys) -> None:
    assert stream_key(ACCOUNT.upper()) == Keys("bridge", ACCOUNT).events


async def test_every_type_arrives_typed_and_is_acknowledged_after_its_handler(
    redis: RedisClient,
) -> None:
    written = await write_samples(redis)
    seen: list[Event] = []

    async def handle(event: Event) -> None:
        # Not yet acknowledged while the handler runs.
        pending = await redis.xpending(stream_key(ACCOUNT), "ledger")
        assert pending["pending"] >= 1
        seen.append(event)
        if len(seen) == len(written):
            consumer.stop()

    consumer = EventConsumer(redis, stream_key(ACCOUNT), "ledger", "ledger-1", handle, block=0.2)
    await asyncio.wait_for(consumer.run(), 10)
    assert seen == written  # decoded into the same structs, in stream order
    assert {e.type for e in seen} == set(EventType)
    assert (await redis.xpending(stream_key(ACCOUNT), "ledger"))["pending"] == 0


async def test_an_existing_group_is_joined_and_a_handler_error_leaves_the_entry_pending(
    redis: RedisClient,
) -> None:
    await write_samples(redis)
    await redis.xgroup_create(stream_key(ACCOUNT), "ledger", id="0")

    def fail(event: Event) -> None:
        raise RuntimeError("handler failed")

    consumer = EventConsumer(redis, stream_key(ACCOUNT), "ledger", "ledger-1", fail, count=3)
    with contextlib.suppress(RuntimeError):
        await consumer.run()
    pending = await redis.xpending(stream_key(ACCOUNT), "ledger")
    assert pending["pending"] == 3  # the batch read; none acknowledged
    # A restarted consumer of the same name finishes its own pending entries first.
    seen: list[str] = []
    again = EventConsumer(
        redis, stream_key(ACCOUNT), "ledger", "ledger-1", lambda e: seen.append(e.id), block=0.1
    )
    await again.ensure_group()
    task = asyncio.create_task(again.run())
    await eventually(lambda: len(seen) == len(EventType), within=10)
    again.stop()
    await asyncio.wait_for(task, 5)
    assert len(set(seen)) == len(seen)


async def test_stop_finishes_the_batch_in_hand(redis: RedisClient) -> None:
    await write_samples(redis)
    seen: list[str] = []

    def handle(event: Event) -> None:
        seen.append(event.id)
        consumer.stop()  # asked during the first event: the batch of 5 still completes

    consumer = EventConsumer(redis, stream_key(ACCOUNT), "ledger", "l-1", handle, count=5)
    await asyncio.wait_for(consumer.run(), 10)
    assert len(seen) == 5
    assert (await redis.xpending(stream_key(ACCOUNT), "ledger"))["pending"] == 0


_KILLED_CONSUMER = """
import asyncio, os, sys, time
from redis.asyncio import Redis
from bridge.client.consumer import EventConsumer

out = open(os.environ["OUT"], "a", buffering=1)

def handle(event):
    out.write(event.id + "\\n")
    if sum(1 for _ in open(os.environ["OUT"])) == int(os.environ["HANG_AT"]):
        time.sleep(3600)  # killed here: read, handled in part, never acknowledged

async def main():
    redis = Redis.from_url(os.environ["REDIS_URL"])
    await EventConsumer(redis, os.environ["STREAM"], "ledger", "doomed", handle, count=10).run()

asyncio.run(main())
"""


async def test_a_killed_consumers_entries_are_taken_over_after_the_idle_time(
    redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    written = await write_samples(redis, rounds=3)  # 39 events
    out = tmp_path / "doomed.txt"
    env = {
        **os.environ,
        "OUT": str(out),
        "HANG_AT": "4",
        "REDIS_URL": redis_url,
        "STREAM": stream_key(ACCOUNT),
    }
    doomed = await asyncio.create_subprocess_exec(sys.executable, "-c", _KILLED_CONSUMER, env=env)
    try:
        await eventually(lambda: out.exists() and len(out.read_text().split()) >= 4, within=20)
    finally:
        doomed.send_signal(signal.SIGKILL)
        await asyncio.wait_for(doomed.wait(), 10)
    by_doomed = out.read_text().split()
    pending = await redis.xpending(stream_key(ACCOUNT), "ledger")
    assert pending["pending"] == 10 - 3  # its batch of 10, three acknowledged before the hang

    seen: list[str] = []
    survivor = EventConsumer(
        redis,
        stream_key(ACCOUNT),
        "ledger",
        "survivor",
        lambda e: seen.append(e.id),
        claim_idle=1.0,
        claim_every=0.2,
        block=0.2,
    )
    task = asyncio.create_task(survivor.run())
    try:
        await eventually(lambda: len(set(seen) | set(by_doomed)) == len(written), within=15)
    finally:
        survivor.stop()
        await asyncio.wait_for(task, 5)
    every = [e.id for e in written]
    assert set(seen) | set(by_doomed) == set(every)  # none lost
    duplicates = set(seen) & set(by_doomed)
    assert duplicates == {by_doomed[-1]}  # only the one killed inside its handler
    assert survivor.claimed == 7
    assert (await redis.xpending(stream_key(ACCOUNT), "ledger"))["pending"] == 0
    print(f"killed consumer: {len(by_doomed)} handled, survivor {len(seen)}, duplicates 1")


async def test_it_works_as_the_acl_consumer_user(redis: RedisClient, redis_url: str) -> None:
    users = AclUsers(redis, redis_url)  # type: ignore[arg-type]
    try:
        url = await users.make(
            "consumer", "--account", ACCOUNT, "--name", "ledger", password="consumer-pw-0123456789"
        )
        written = await write_samples(redis)
        seen: list[str] = []
        async with Redis.from_url(url) as limited:

            def handle(event: Event) -> None:
                seen.append(event.id)
                if len(seen) == len(written):
                    consumer.stop()

            consumer = EventConsumer(
                limited, stream_key(ACCOUNT), "ledger", "l-1", handle, claim_every=0, block=0.2
            )
            await asyncio.wait_for(consumer.run(), 10)
        assert seen == [e.id for e in written]
        assert (await redis.xpending(stream_key(ACCOUNT), "ledger"))["pending"] == 0
    finally:
        await users.aclose()
