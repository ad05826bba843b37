"""How busy the machine was during a figure, and how much of that was the benchmark itself.

On a shared machine another job's load lowers every figure; recording it beside each figure
says how far to trust it. *Ours* is the bench process, every child it has waited for (the
workers of the figure) and the long-lived processes it started (Redis, sandbox, sink, API);
*machine* is all CPUs' busy time from ``/proc/stat``; *others* is the difference.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuSnapshot", "find_pid", "usage"]

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    at: float
    machine_busy: float  # CPU-seconds all CPUs spent not idle, since boot
    steal: float  # CPU-seconds the hypervisor gave to someone else
    ours: float  # CPU-seconds of this process, its waited-for children and ``pids``

    @classmethod
    def take(cls, pids: Iterable[int]) -> CpuSnapshot:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        own = os.times()
        ours = own.user + own.system + own.children_user + own.children_system
        ours += sum(_process_seconds(pid) for pid in pids)
        busy = (user + nice + system + irq + softirq) / _TICK
        return cls(time.monotonic(), busy, steal / _TICK, ours)


def usage(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Average cores busy between two snapshots: all, ours, everybody else's, stolen."""
    seconds = max(after.at - before.at, 1e-9)
    machine = (after.machine_busy - before.machine_busy) / seconds
    ours = (after.ours - before.ours) / seconds
    return {
        "machine_busy_cores": round(machine, 2),
        "ours_cores": round(ours, 2),
        "others_cores": round(max(0.0, machine - ours), 2),
        "steal_cores": round((after.steal - before.steal) / seconds, 2),
    }


def _process_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def find_pid(*needles: str) -> int | None:
    """The pid of the process whose command line contains every needle (e.g. redis-server
    and its port), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if all(n in cmdline for n in needles):
            return int(entry.name)
    return None
