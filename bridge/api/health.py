"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import get
from redis.exceptions import RedisError

from bridge.api.problems import ProblemError, problems
from bridge.api.services import DeploymentDep, ServicesDep

__all__ = ["live", "metrics", "ready"]


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/health/live", summary="The process is up", tags=["health"])
async def live() -> Health:
    return Health("ok")


@get(
    "/health/ready",
    summary="Ready to serve: Redis answers",
    tags=["health"],
    responses=problems(503),
)
async def ready(services: ServicesDep) -> Health:
    try:
        await asyncio.wait_for(services.redis.ping(), timeout=1.0)
    except (RedisError, TimeoutError, OSError):
        raise ProblemError(
            503, "not_ready", "Not ready", "Redis is not reachable.", headers={"Retry-After": "2"}
        ) from None
    return Health("ready")


@get(
    "/metrics",
    summary="Prometheus metrics of this process, and the shared backlog read from Redis",
    tags=["health"],
    media_type="text/plain; version=0.0.4; charset=utf-8",
    responses=problems(503),
)
async def metrics(deployment: DeploymentDep) -> bytes:
    for account in deployment:
        await account.metrics.refresh_backlog(account.redis, account.keys)
    return deployment.shared.metrics.exposition()
