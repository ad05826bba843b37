"""Standalone Redis and a three-master Redis Cluster: one suite of scenarios runs on both.

A scenario module opts in with ``pytestmark = both_redis_modes`` (a test alone with the same
decorator): each of its tests then runs once per mode, ``[standalone]`` and ``[cluster]``,
and the ``redis_url``, ``redis`` and ``settings`` fixtures follow the mode. On the cluster,
every key a test leaves must sit in the one slot of the account's hash tag (DESIGN §5): that
is what keeps the bridge's scripts and MULTI blocks legal there.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from tests.support.config import ACCOUNT

__all__ = ["ACCOUNT_SLOT", "REDIS_MODES", "both_redis_modes", "keys_by_slot"]

ACCOUNT_SLOT = key_slot(ACCOUNT.lower().encode())

REDIS_MODES = [
    pytest.param("standalone", id="standalone"),
    pytest.param("cluster", id="cluster", marks=pytest.mark.cluster),
]

both_redis_modes = pytest.mark.parametrize("redis_mode", REDIS_MODES, indirect=True)


async def keys_by_slot(client: RedisCluster) -> dict[str, int]:
    """Every key on every primary (``SCAN`` node by node), with its ``CLUSTER KEYSLOT``."""
    found: dict[str, int] = {}
    for node in client.get_primaries():
        async with Redis(host=node.host, port=int(node.port)) as direct:
            async for key in direct.scan_iter(count=500):
                slot = await direct.execute_command("CLUSTER KEYSLOT", key)  # type: ignore[no-untyped-call]
                found[key.decode()] = int(slot)
    return found
