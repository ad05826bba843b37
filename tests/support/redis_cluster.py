"""A throw-away Redis Cluster of local ``redis-server`` processes: three masters, and for the
failover runs one replica per master.

Each node listens on a free loopback port and runs its cluster bus on another free port
(``--cluster-port``: the default, port + 10000, may not exist for a high ephemeral port);
nothing is kept on disk. ``redis-cli --cluster create`` assigns the slots, and the cluster is
handed out only once every node reports ``cluster_state:ok`` and knows every node (and, with
replicas, once every master has its replica attached and in sync).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

__all__ = ["ReplicatedCluster", "redis_cluster", "replicated_redis_cluster"]

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


def _start_node(
    server: str, workdir: str, port: int, bus: int, node_timeout_ms: int
) -> subprocess.Popen[bytes]:
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
        "--cluster-node-timeout", str(node_timeout_ms),
        "--appendonly", "no",
        "--save", "",
        "--dir", str(node_dir),
        "--logfile", str(log),
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_port(port, process, log)
    return process


def _create(cli: str, ports: list[int], replicas: int) -> None:
    create = [cli, "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports)]
    create += ["--cluster-replicas", str(replicas), "--cluster-yes"]
    joined = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
    if joined.returncode != 0:
        raise RuntimeError(
            f"redis-cli --cluster create failed ({joined.returncode}):\n"
            f"{joined.stdout[-2000:]}{joined.stderr[-2000:]}"
        )


@contextlib.contextmanager
def _nodes(
    count: int, replicas: int, node_timeout_ms: int
) -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    """``count`` joined nodes, ``replicas`` replicas per master; port → process."""
    server, cli = _binaries()
    ports = _free_ports(2 * count)
    data_ports, bus_ports = ports[:count], ports[count:]
    processes: dict[int, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="bridge-cluster-") as workdir:
        try:
            for port, bus in zip(data_ports, bus_ports, strict=True):
                processes[port] = _start_node(server, workdir, port, bus, node_timeout_ms)
            _create(cli, data_ports, replicas)
            _wait_until_ok(data_ports)
            if replicas:
                _wait_until_replicated(data_ports)
            yield processes
        finally:
            _stop(list(processes.values()))


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[str]:
    """Start ``masters`` cluster nodes on 127.0.0.1, join them, yield a ``redis+cluster://``
    URL of the first (what :func:`bridge.store.connection.connect` takes), stop them on exit.
    """
    with _nodes(masters, 0, 5000) as processes:
        yield f"redis+cluster://127.0.0.1:{next(iter(processes))}"


def _role(port: int) -> dict[str, Any]:
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
        return dict(client.info("replication"))


def _wait_until_replicated(ports: list[int], timeout: float = 20.0) -> None:
    """Until every master has a replica that finished its first sync (``state=online``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roles = [_role(port) for port in ports]
        masters = [r for r in roles if r["role"] == "master"]
        if all(
            r.get("connected_slaves", 0) >= 1 and r.get("slave0", {}).get("state") == "online"
            for r in masters
        ):
            return
        time.sleep(0.05)
    raise RuntimeError("the replicas of the Redis Cluster did not come in sync")


@dataclass
class ReplicatedCluster:
    """A cluster of masters with one replica each, whose masters a test may kill."""

    processes: dict[int, subprocess.Popen[bytes]]
    killed: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL of a node alive now (a client learns the others from
        it and asks them for the slot table once it is gone)."""
        return f"redis+cluster://127.0.0.1:{self.live()[0]}"

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot, as a live node sees it."""
        slot = key_slot(key.encode())
        for port in self.live():
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
                for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                    if int(start) <= slot <= int(end):
                        return int(master[1])
        raise RuntimeError(f"no live node serves slot {slot}")

    def live(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def kill(self, port: int) -> None:
        """SIGKILL one node: what it had not sent to its replica yet is gone."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.append(port)

    def freeze(self, port: int) -> None:
        """SIGSTOP one node: it answers nothing and reads no replication stream."""
        self.processes[port].send_signal(signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGCONT)

    def replica_of(self, port: int) -> int:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
            replica = dict(client.info("replication"))["slave0"]
        return int(replica["port"])


@contextlib.contextmanager
def replicated_redis_cluster(
    masters: int = 3, node_timeout_ms: int = 1000
) -> Iterator[ReplicatedCluster]:
    """``masters`` masters and as many replicas (``--cluster-replicas 1``); a master that
    stops answering for ``node_timeout_ms`` is failed over to its replica."""
    with _nodes(2 * masters, 1, node_timeout_ms) as processes:
        yield ReplicatedCluster(processes)
