"""A real Redis for the tests, found as DESIGN §9 says.

``BRIDGE_TEST_REDIS_URL`` when set (its database is flushed between tests), else a
testcontainers Redis when a Docker engine answers, else a ``redis-server`` started here on a
free port with nothing kept on disk.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

from bridge.local_redis import redis_server_process

__all__ = ["real_redis"]


def _docker_answers() -> bool:
    """Ask the engine's /_ping on its socket directly: cheap, and leaves nothing open."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True  # a remote engine was configured on purpose; let testcontainers try it
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(256)
    except OSError:
        return False


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
