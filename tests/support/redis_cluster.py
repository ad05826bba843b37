"""A throw-away three-master Redis Cluster of local ``redis-server`` processes.

Each node listens on a free loopback port and runs its cluster bus on another free port
(``--cluster-port``: the default, port + 10000, may not exist for a high ephemeral port);
nothing is kept on disk. ``redis-cli --cluster create`` assigns the slots, and the cluster is
handed out only once every node reports ``cluster_state:ok`` and knows all three masters.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

__all__ = ["redis_cluster"]

INSTALL_HINT = (
    "the Redis Cluster tests start their own cluster and need redis-server and redis-cli on "
    "PATH (Debian/Ubuntu: apt-get install redis-server redis-tools; macOS: brew install redis)"
)


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: every socket stays bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _binaries() -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    missing = [name for name, path in (("redis-server", server), ("redis-cli", cli)) if not path]
    if server is None or cli is None:
        raise RuntimeError(f"no {' or '.join(missing)} on PATH: {INSTALL_HINT}")
    return server, cli


def _log_tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10.0
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not start on port {port}:\n{_log_tail(log)}")
        time.sleep(0.02)


def _cluster_info(port: int) -> dict[str, str]:
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
        info = client.execute_command("CLUSTER INFO")  # redis-py parses it into a dict
    return {str(key): str(value) for key, value in dict(info).items()}


def _wait_until_ok(ports: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    infos: dict[int, dict[str, str]] = {}
    while time.monotonic() < deadline:
        infos = {port: _cluster_info(port) for port in ports}
        if all(
            info.get("cluster_state") == "ok"
            and info.get("cluster_slots_ok") == "16384"
            and info.get("cluster_known_nodes") == str(len(ports))
            for info in infos.values()
        ):
            return
        time.sleep(0.05)
    states = {port: info.get("cluster_state") for port, info in infos.items()}
    raise RuntimeError(f"the Redis Cluster did not reach cluster_state:ok: {states}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[str]:
    """Start ``masters`` cluster nodes on 127.0.0.1, join them, yield a ``redis+cluster://``
    URL of the first (what :func:`bridge.store.connection.connect` takes), stop them on exit.
    """
    server, cli = _binaries()
    ports = _free_ports(2 * masters)
    data_ports, bus_ports = ports[:masters], ports[masters:]
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bridge-cluster-") as workdir:
        try:
            for port, bus in zip(data_ports, bus_ports, strict=True):
                node_dir = Path(workdir) / str(port)
                node_dir.mkdir()
                log = node_dir / "redis.log"
                argv = [
                    server,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(node_dir / f"nodes-{port}.conf"),
                    "--cluster-port", str(bus),
                    "--cluster-node-timeout", "5000",
                    "--appendonly", "no",
                    "--save", "",
                    "--dir", str(node_dir),
                    "--logfile", str(log),
                ]  # fmt: skip
                processes.append(
                    subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
                _wait_for_port(port, processes[-1], log)
            create = [cli, "--cluster", "create"]
            create += [f"127.0.0.1:{port}" for port in data_ports]
            create += ["--cluster-replicas", "0", "--cluster-yes"]
            joined = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
            if joined.returncode != 0:
                raise RuntimeError(
                    f"redis-cli --cluster create failed ({joined.returncode}):\n"
                    f"{joined.stdout[-2000:]}{joined.stderr[-2000:]}"
                )
            _wait_until_ok(data_ports)
            yield f"redis+cluster://127.0.0.1:{data_ports[0]}"
        finally:
            _stop(processes)
