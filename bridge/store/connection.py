"""Redis clients, standalone or cluster, with short timeouts so outages surface fast."""

from __future__ import annotations

from typing import Any, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

__all__ = ["RedisClient", "connect"]

RedisClient: TypeAlias = "Redis | RedisCluster"

# One quick retry hides a dropped pooled connection; more would turn an outage into a hang
# for the API's callers, who should get a 503 within a couple of seconds instead.
_RETRY_ERRORS: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]


class _Cluster(RedisCluster):
    """A cluster client that learns the slot table before its first command.

    redis-py sends a command issued before ``initialize()`` to any node, as if it had no
    key; a burst of first commands (a worker starting its polls) then meets MOVED replies,
    and every fifth MOVED makes redis-py close the whole client under the commands still in
    flight. redis-py's advice is to await ``initialize()`` first; :func:`connect` cannot, so
    the client does (once, under redis-py's lock; a no-op after that).
    """

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)


def connect(url: str, *, cluster: bool = False) -> RedisClient:
    options = {
        "socket_connect_timeout": 1.0,
        "socket_timeout": 3.0,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
        "retry_on_error": _RETRY_ERRORS,
        "health_check_interval": 15,
    }
    if cluster or url.startswith("redis+cluster://"):
        plain = url.replace("redis+cluster://", "redis://", 1)
        options.pop("health_check_interval")
        return _Cluster.from_url(plain, **options)
    return Redis.from_url(url, **options)  # type: ignore[arg-type]
