"""Writes that must outlive a failover: acknowledged by a replica before the bridge acts on them.

Redis replicates asynchronously. A primary that acknowledged a write and died before sending
it to its replica loses it when the replica is promoted. For most of the bridge's writes that
is repaired by someone (a poll detects a transition again, a settle is at least once); for an
API intent it is not: the intent is what lets recovery write the event of a Calypso call whose
request died, so an intent lost after the call took effect loses the event with it.

So the intent is written together with ``WAIT <replicas> <timeout>``, on the same connection
(``WAIT`` counts only the writes of its own connection): a non-transactional pipeline on a
standalone Redis, one pipeline on a connection of the primary holding the account's slot on a
cluster. Fewer replicas acknowledging in time raises :class:`WriteNotReplicated`, and the
caller does not make the Calypso call.

A primary without replicas (development, tests, a single-node Redis) has nothing to wait
for; ``INFO replication`` says how many replicas are connected, read per primary and kept
for :data:`RECHECK_AFTER` seconds. After a failover the account's slot belongs to another
node, read afresh; a replica attached or lost shows within that time.
"""

from __future__ import annotations

import time
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode, PipelineCommand
from redis.exceptions import (
    AskError,
    MovedError,
    TryAgainError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)
from redis.typing import EncodableT

from bridge.errors import BridgeError
from bridge.store.connection import RedisClient

__all__ = ["RECHECK_AFTER", "ReplicatedWrites", "WriteNotReplicated"]

RECHECK_AFTER = 30.0  # seconds an INFO replication answer is trusted

# The slot moved (a failover, a resharding) or the node went away: learn the slot table again
# and write to the node that holds the slot now.
_TOPOLOGY_ERRORS = (MovedError, AskError, TryAgainError, RedisConnectionError, RedisTimeoutError)


class WriteNotReplicated(BridgeError):
    """Fewer replicas than required acknowledged a write in time: a failover could lose it."""

    def __init__(self, node: str, wanted: int, acknowledged: int) -> None:
        super().__init__(f"{acknowledged} of {wanted} replicas of {node} acknowledged the write")
        self.node = node
        self.wanted = wanted
        self.acknowledged = acknowledged


class ReplicatedWrites:
    """Run one write and wait for ``replicas`` replicas (at most as many as are connected)
    to acknowledge it within ``timeout`` seconds; ``replicas=0`` never waits."""

    def __init__(self, redis: RedisClient, *, replicas: int, timeout: float) -> None:
        self._redis = redis
        self._replicas = replicas
        self._timeout_ms = max(1, int(timeout * 1000))
        self._connected: dict[str, tuple[float, int]] = {}  # node -> (read at, replicas)

    async def write(self, key: str, *command: EncodableT) -> Any:
        """``command`` (a write to ``key``) and its answer, once replicated; raises
        :class:`WriteNotReplicated` when it was not in time (the write stays on the primary)."""
        if isinstance(self._redis, RedisCluster):
            return await self._on_cluster(self._redis, key, command)
        return await self._on_standalone(self._redis, command)

    async def _on_standalone(self, redis: Redis, command: tuple[EncodableT, ...]) -> Any:
        wanted = await self._wanted("", lambda: redis.info("replication"))
        if wanted == 0:
            return await redis.execute_command(*command)  # type: ignore[no-untyped-call]
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command(*command)
            pipe.execute_command("WAIT", wanted, self._timeout_ms)
            answer, acknowledged = await pipe.execute()
        return self._checked("Redis", answer, wanted, int(acknowledged))

    async def _on_cluster(
        self, redis: RedisCluster, key: str, command: tuple[EncodableT, ...]
    ) -> Any:
        await redis.initialize()
        for attempt in (1, 2):
            node = redis.get_node_from_key(key)
            assert node is not None  # only asked for with replica=True
            try:
                return await self._on_node(redis, node, command)
            except _TOPOLOGY_ERRORS:
                if attempt == 2:
                    raise
                # redis-py learns a new slot table when its own commands meet these; this
                # write went around them, so it asks for one itself.
                await redis.nodes_manager.initialize()
        raise AssertionError("unreachable")

    async def _on_node(
        self, redis: RedisCluster, node: ClusterNode, command: tuple[EncodableT, ...]
    ) -> Any:
        wanted = await self._wanted(node.name, lambda: redis.info("replication", target_nodes=node))
        calls = [PipelineCommand(0, *command)]
        if wanted:
            calls.append(PipelineCommand(1, "WAIT", wanted, self._timeout_ms))
        await node.execute_pipeline(calls)
        for call in calls:
            if isinstance(call.result, Exception):
                raise call.result
        if not wanted:
            return calls[0].result
        return self._checked(node.name, calls[0].result, wanted, int(cast(int, calls[1].result)))

    async def _wanted(self, node: str, read: Any) -> int:
        if self._replicas == 0:
            return 0
        now = time.monotonic()
        cached = self._connected.get(node)
        if cached is None or now - cached[0] > RECHECK_AFTER:
            info = await read()
            cached = (now, int(info.get("connected_slaves", 0)))
            self._connected[node] = cached
        return min(self._replicas, cached[1])

    @staticmethod
    def _checked(node: str, answer: Any, wanted: int, acknowledged: int) -> Any:
        if acknowledged < wanted:
            raise WriteNotReplicated(node, wanted, acknowledged)
        return answer
