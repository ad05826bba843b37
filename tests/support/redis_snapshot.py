"""Every key in Redis with its type and value, for "nothing changed" and "no secret
anywhere" checks: walked with SCAN and read by type."""

from __future__ import annotations

from typing import Any, cast

from bridge.store.connection import RedisClient

__all__ = ["redis_snapshot"]


async def redis_snapshot(redis: RedisClient) -> dict[bytes, tuple[str, Any]]:
    found: dict[bytes, tuple[str, Any]] = {}
    async for key in redis.scan_iter(count=1000):
        raw = await redis.type(key)
        kind = raw.decode() if isinstance(raw, bytes) else str(raw)
        found[key] = (kind, await _value(redis, key, kind))
    return found


async def _value(redis: RedisClient, key: bytes, kind: str) -> Any:
    if kind == "string":
        return await redis.get(key)
    if kind == "hash":
        return await redis.hgetall(key)
    if kind == "set":
        return sorted(cast(set[bytes], await redis.smembers(key)))
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return await redis.lrange(key, 0, -1)
    if kind == "stream":
        entries = await redis.xrange(key)
        groups = await redis.xinfo_groups(key)
        return entries, [(g["name"], g["last-delivered-id"], g["pending"]) for g in groups]
    return kind
