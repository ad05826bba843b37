"""Is the Redis behind the bridge durable? Read at start by the API and the worker.

Everything the bridge promises (events never lost, deliveries at least once) lives in Redis,
so Redis must keep it: append-only persistence (``appendonly yes``: an RDB snapshot alone
loses every write since the last one) and ``maxmemory-policy noeviction`` (any other policy
drops keys, deliveries and leases among them, once memory is full). On a cluster every
primary is read, since each holds some accounts.

Managed Redis services often rename or block ``CONFIG``; then ``INFO persistence`` and
``INFO memory`` say the same, except the RDB schedule. When neither may be read, that is a
problem too: the durability is unknown. :func:`durability_problems` returns one line per
problem, naming the setting; the caller warns, or refuses with
``BRIDGE_REDIS_REQUIRE_DURABLE=true`` (:class:`RedisNotDurable`).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from bridge.config import ConfigError
from bridge.store.connection import RedisClient

__all__ = [
    "NodeDurability",
    "RedisNotDurable",
    "check_durability",
    "durability_problems",
    "read_durability",
]

log = logging.getLogger(__name__)

_SETTINGS = ("appendonly", "save", "maxmemory-policy")


class RedisNotDurable(ConfigError):
    """Redis is not durable (or cannot be shown to be) and the settings require it."""


class NodeDurability(msgspec.Struct, frozen=True):
    """What one Redis server (a primary, on a cluster) says about keeping its data.

    ``None`` is a setting that could not be read: ``save`` when only ``INFO`` is allowed,
    everything when neither ``CONFIG`` nor ``INFO`` is.
    """

    node: str
    appendonly: bool | None
    save: str | None
    maxmemory_policy: str | None

    def problems(self) -> list[str]:
        where = f"Redis {self.node}" if self.node else "Redis"
        if self.appendonly is None and self.maxmemory_policy is None:
            return [
                f"{where}: appendonly and maxmemory-policy cannot be read (CONFIG and INFO are "
                "not allowed), so its durability is unknown"
            ]
        found = []
        if self.appendonly is False:
            if self.save:
                found.append(
                    f"{where}: appendonly is no, only RDB snapshots (save {self.save!r}): a "
                    "crash loses every event and delivery since the last one; set appendonly yes"
                )
            else:
                kept = "save is empty" if self.save == "" else "no RDB schedule could be read"
                found.append(
                    f"{where}: appendonly is no and {kept}: a restart loses every event, "
                    "delivery and subscription; set appendonly yes"
                )
        if self.maxmemory_policy is not None and self.maxmemory_policy != "noeviction":
            found.append(
                f"{where}: maxmemory-policy is {self.maxmemory_policy}: a full Redis evicts "
                "deliveries and leases; set maxmemory-policy noeviction"
            )
        return found


async def read_durability(redis: RedisClient) -> list[NodeDurability]:
    """The persistence and eviction settings of the server, or of every cluster primary."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        return [await _read(redis, node, node.name) for node in redis.get_primaries()]
    return [await _read(redis, None, "")]


async def durability_problems(redis: RedisClient) -> list[str]:
    """One line per setting that puts the bridge's data at risk, naming it; empty if none."""
    return [problem for node in await read_durability(redis) for problem in node.problems()]


async def _read(redis: RedisClient, node: ClusterNode | None, name: str) -> NodeDurability:
    target: dict[str, Any] = {} if node is None else {"target_nodes": node}
    try:
        config = await redis.config_get(*_SETTINGS, **target)
    except ResponseError:
        pass  # renamed away, or not in the user's ACL: ask INFO instead
    else:
        return NodeDurability(
            node=name,
            appendonly=config.get("appendonly") == "yes",
            save=config.get("save"),
            maxmemory_policy=config.get("maxmemory-policy"),
        )
    try:
        persistence = await redis.info("persistence", **target)
        memory = await redis.info("memory", **target)
    except ResponseError:
        return NodeDurability(node=name, appendonly=None, save=None, maxmemory_policy=None)
    aof = persistence.get("aof_enabled")
    policy = memory.get("maxmemory_policy")
    return NodeDurability(
        node=name,
        appendonly=None if aof is None else str(aof) == "1",
        save=None,
        maxmemory_policy=None if policy is None else str(policy),
    )


async def check_durability(redis: RedisClient, *, require: bool) -> list[str]:
    """Warn about every problem (and return them), or refuse to start when ``require``."""
    try:
        problems = await durability_problems(redis)
    except (RedisError, RedisClusterException) as exc:
        problems = [f"Redis did not answer ({type(exc).__name__}), so its durability is unknown"]
    if problems and require:
        raise RedisNotDurable(
            [*problems, "BRIDGE_REDIS_REQUIRE_DURABLE=true: not starting on this Redis"]
        )
    for problem in problems:
        log.warning("redis may lose data: %s", problem)
    return problems
