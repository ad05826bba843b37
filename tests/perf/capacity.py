"""Redis memory per watched customer and per retained event, for deploy/CAPACITY.md.

Writes what the bridge writes (watch entries, schedule, cadence state, a transaction
snapshot per customer; transaction events of realistic size with their index keys and one
subscription's delivery state) and reads ``used_memory`` before and after.

    .venv/bin/python -m tests.perf.capacity
"""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

from redis.asyncio import Redis

from bridge.calypso import models
from bridge.events.build import transaction_events
from bridge.events.model import EventType, Snapshot
from bridge.events.stream import EventLog
from bridge.poller.watchlist import WatchList
from bridge.store.keys import Keys
from tests.support.reading import stream_entries
from tests.support.redis_server import real_redis

ACCOUNT = "0x" + "ca" * 20
CUSTOMERS = 20_000
EVENTS = 100_000


async def used(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def measure(url: str) -> dict[str, float]:
    redis = Redis.from_url(url)
    await redis.flushdb()
    keys = Keys("bridge", ACCOUNT)
    WatchList(redis, keys)
    base = await used(redis)
    customers = [str(uuid.uuid4()) for _ in range(CUSTOMERS)]
    for chunk in range(0, CUSTOMERS, 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for customer in customers[chunk : chunk + 1000]:
                pipe.hset(
                    keys.watched,
                    customer,
                    b'{"customerId":"%s","since":1764000000000,"reason":"created"}'
                    % customer.encode(),
                )
                pipe.zadd(keys.poll_schedule, {customer: 1764000000000})
                pipe.hset(keys.poll_state, customer, json.dumps({"idle_streak": 7, "failures": 0}))
                snapshot = Snapshot(
                    models.TransactionState.CONFIRMED, models.ComplianceState.CHECKED, True, 4
                )
                pipe.hset(keys.transactions(customer), str(uuid.uuid4()), snapshot.encode())
            await pipe.execute()
    per_customer = (await used(redis) - base) / CUSTOMERS

    log = EventLog(redis, keys, retention=30 * 86400, max_length=10_000_000)
    tx = models.Transaction(
        id=str(uuid.uuid4()),
        amount=Decimal("0.123456789012345678"),
        addressFrom="0x" + "ab" * 20,
        currency="ETH",
        transactionState=models.TransactionState.CONFIRMED,
        complianceState=models.ComplianceState.CHECKED,
        translationToAccountCompleted=False,
        createdDate="2026-11-26T17:40:01.123456Z",
        transactionHash="0x" + "cd" * 32,
    )
    before = await used(redis)
    previous = Snapshot(
        models.TransactionState.PENDING_COMPLIANCE_CHECK,
        models.ComplianceState.IN_PROGRESS,
        False,
        2,
    )
    for chunk in range(0, EVENTS, 1000):
        batch = []
        for n in range(chunk, chunk + 1000):
            event = transaction_events(
                ACCOUNT, customers[n % CUSTOMERS], tx, previous, (EventType.TRANSACTION_CONFIRMED,)
            )[0]
            batch.append(
                type(event)(
                    id=f"evt_{n:026d}"[:30],
                    type=event.type,
                    createdAt=event.createdAt,
                    account=event.account,
                    data=event.data,
                )
            )
        await log.append(batch)
    per_event = (await used(redis) - before) / EVENTS
    size = len((await stream_entries(redis, keys.events, count=1))[0][1][b"event"])
    await redis.flushdb()
    await redis.aclose()
    return {
        "bytes_per_watched_customer": round(per_customer),
        "bytes_per_retained_event": round(per_event),
        "event_json_bytes": size,
    }


def main() -> None:
    with real_redis() as url:
        print(json.dumps(asyncio.run(measure(url)), indent=2))


if __name__ == "__main__":
    main()
