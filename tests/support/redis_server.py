"""A real Redis for the tests, found as DESIGN §9 says.

``BRIDGE_TEST_REDIS_URL`` when set (its database is flushed between tests), else a
testcontainers Redis when a Docker engine answers, else a ``redis-server`` started here on a
free port with nothing kept on disk.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from bridge.local_redis import redis_server_process

__all__ = ["real_redis"]


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def real_redis() -> Iterator[str]:
    url = os.environ.get("BRIDGE_TEST_REDIS_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
        return
    # Without redis-server this fails with the install hint, naming BRIDGE_TEST_REDIS_URL too.
    with redis_server_process() as url:
        yield url
