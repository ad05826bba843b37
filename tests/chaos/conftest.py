"""Chaos runs: bridge processes against a Redis that can die, the sandbox, a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from tests.support.restartable_redis import RestartableRedis, restartable_redis


@pytest.fixture
def aof_redis() -> Iterator[RestartableRedis]:
    with restartable_redis("everysec") as server:
        yield server


@pytest.fixture
async def chaos_redis(aof_redis: RestartableRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(aof_redis.url, socket_connect_timeout=1, socket_timeout=3)
    yield client
    await client.aclose()
