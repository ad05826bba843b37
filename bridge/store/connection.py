"""Redis clients, standalone or cluster, with short timeouts so outages surface fast."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

from redis.asyncio import Connection, Redis, RedisCluster, SSLConnection
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


class _WriteOnClosedIsLost(Connection):
    """A connection for which a write on a connection closed under it is a lost connection.

    A cluster client closes every connection to a node when it meets CLUSTERDOWN or a
    connection error (a failover), also those other tasks are using at that moment. The
    next write of such a task finds no writer (``AttributeError``), or, under uvloop, a
    closed transport (``RuntimeError``: "the handler is closed"): errors no caller expects
    from Redis, which ended the worker's loops. Raised as an ``OSError`` here, they take
    redis-py's path for a broken socket: the connection is dropped and ``ConnectionError``
    raised, which the loops wait out and retry.
    """

    async def _send_packed_command(self, command: Iterable[bytes]) -> None:
        if self._writer is None:
            raise OSError("connection closed before the write")
        try:
            await super()._send_packed_command(command)
        except RuntimeError as exc:
            raise OSError(f"transport closed under the write: {exc}") from exc


class _PlainConnection(_WriteOnClosedIsLost):
    pass


class _TLSConnection(_WriteOnClosedIsLost, SSLConnection):
    pass


class _Cluster(RedisCluster):
    """A cluster client that learns the slot table before its first command.

    redis-py sends a command issued before ``initialize()`` to any node, as if it had no
    key; a burst of first commands (a worker starting its polls) then meets MOVED replies,
    and every fifth MOVED makes redis-py close the whole client under the commands still in
    flight. redis-py's advice is to await ``initialize()`` first; :func:`connect` cannot, so
    the client does (once, under redis-py's lock; a no-op after that).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # redis-py's cluster client takes no connection class; every node it creates (now
        # or when it learns the slot table again) is made from this one shared dict.
        tls = issubclass(self.connection_kwargs["connection_class"], SSLConnection)
        kind = _TLSConnection if tls else _PlainConnection
        self.connection_kwargs["connection_class"] = kind
        for node in self.startup_nodes:
            node.connection_class = kind

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)


def connect(url: str, *, cluster: bool = False, socket_timeout: float = 3.0) -> RedisClient:
    """A client for ``url``; ``socket_timeout`` must exceed any blocking command's wait."""
    options = {
        "socket_connect_timeout": 1.0,
        "socket_timeout": socket_timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
        "retry_on_error": _RETRY_ERRORS,
        "health_check_interval": 15,
    }
    if cluster or url.startswith("redis+cluster://"):
        plain = url.replace("redis+cluster://", "redis://", 1)
        options.pop("health_check_interval")
        return _Cluster.from_url(plain, **options)
    return Redis.from_url(url, **options)  # type: ignore[arg-type]
