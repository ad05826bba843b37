"""Profile a running worker with py-spy, and say where its time goes per delivery.

:class:`Profiler` attaches two non-blocking py-spy recorders (``--idle``, so time spent
waiting in ``epoll`` is counted too): one writes collapsed stacks (``.txt``), the other a
flame graph (``.svg``). :func:`summarize` reads the collapsed stacks and attributes every
sample twice: to the *layer* of its innermost recognised frame (self time: aiohttp, Redis
client, signing, JSON, the event loop...) and to every *step* of the delivery path on its
stack (inclusive time: ``Sender.send``, ``Dispatcher._record``, the claim...).

    .venv/bin/python -m tests.perf.profile build/worker-profile.txt [--deliveries N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Profiler", "summarize"]

RATE = 250  # samples per second

# (layer, function or None for any, file fragment); the innermost matching frame decides.
LAYERS: tuple[tuple[str, str | None, str], ...] = (
    ("idle: waiting in epoll", "select", "selectors.py"),
    ("signing (HMAC, base64)", None, "bridge/delivery/signing.py"),
    ("signing (HMAC, base64)", None, "hmac.py"),
    ("signing (HMAC, base64)", None, "base64.py"),
    ("SSRF check", None, "bridge/delivery/ssrf.py"),
    ("JSON / msgspec", None, "msgspec"),
    ("JSON / msgspec", None, "json/"),
    ("metrics (prometheus_client)", None, "prometheus_client"),
    ("logging", None, "logging/"),
    ("Redis client (redis-py, hiredis)", None, "redis/"),
    ("aiohttp client (request, response, connector)", None, "aiohttp/"),
    ("aiohttp client (request, response, connector)", None, "yarl/"),
    ("aiohttp client (request, response, connector)", None, "multidict/"),
    ("socket I/O in asyncio transports", None, "asyncio/selector_events.py"),
    ("event loop (scheduling, tasks, futures)", None, "asyncio/"),
    ("bridge code (dispatcher, queue, attempts...)", None, "bridge/"),
)

# Steps of the delivery path, by function name and file; a sample counts for each on its stack.
# Names of more than one version of the dispatcher are listed; steps never seen are not shown.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("Sending._attempt (one delivery, all of it)", "_attempt", "bridge/delivery/sending.py"),
    ("Dispatcher._deliver (one delivery, all of it)", "_deliver", "bridge/delivery/dispatcher"),
    ("  Sender.send (HTTP attempt, signing included)", "send", "bridge/delivery/sender.py"),
    ("    aiohttp ClientSession._request", "_request", "aiohttp/client.py"),
    ("    signing.headers", "headers", "bridge/delivery/signing.py"),
    ("    UrlPolicy.check_target", "check_target", "bridge/delivery/ssrf.py"),
    ("  Dispatcher._record (outcome bookkeeping)", "_record", "bridge/delivery/dispatcher"),
    ("  Dispatcher._outcome", "_outcome", "bridge/delivery/dispatcher"),
    ("    AttemptLog.add", "add", "bridge/delivery/attempts.py"),
    ("    DeliveryQueue.finish", "finish", "bridge/delivery/queue.py"),
    ("    SubscriptionStore.succeeded", "succeeded", "bridge/delivery/subscriptions.py"),
    ("Dispatcher._flush_settlements", "_flush_settlements", "bridge/delivery/dispatcher"),
    ("Settling.flush", "flush", "bridge/delivery/settling.py"),
    ("  DeliveryQueue.settle", "settle", "bridge/delivery/queue.py"),
    ("Dispatcher._start_due (claim, bodies)", "_start_due", "bridge/delivery/dispatcher"),
    ("  ClaimAhead.top_up", "top_up", "bridge/delivery/claims.py"),
    ("  DeliveryQueue.claim", "claim", "bridge/delivery/queue.py"),
    ("  DeliveryQueue.bodies", "bodies", "bridge/delivery/queue.py"),
    ("Dispatcher._delivery_loop (waiting for work)", "_delivery_loop", "bridge/delivery/dis"),
    ("Dispatcher._fan_out", "_fan_out", "bridge/delivery/dispatcher"),
    ("SubscriptionStore.all", "all", "bridge/delivery/subscriptions.py"),
    ("redis-py execute_command (any caller)", "execute_command", "redis/"),
    ("prometheus_client (any caller)", "", "prometheus_client/"),
    ("poller (PollRunner)", "", "bridge/poller/"),
)

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):\d+\)$")


@dataclass(slots=True)
class Summary:
    samples: int = 0
    layers: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)
    leaves: Counter[str] = field(default_factory=Counter)

    def lines(self, deliveries: int | None) -> list[str]:
        busy = self.samples - self.layers["idle: waiting in epoll"]
        seconds = self.samples / RATE
        out = [f"{self.samples} samples at {RATE} Hz ({seconds:.1f} s), busy {busy / RATE:.1f} s"]
        if deliveries:
            per = busy / RATE / deliveries * 1e6
            out.append(f"{deliveries} deliveries: {per:.0f} µs of worker CPU per delivery")
        out.append("")
        out.append("self time by layer                               share   µs/delivery")
        for name, count in self.layers.most_common():
            out.append(_row(name, count, self.samples, deliveries))
        out.append("")
        out.append("inclusive time by step                           share   µs/delivery")
        for name, *_ in STEPS:
            if self.steps[name]:
                out.append(_row(name, self.steps[name], self.samples, deliveries))
        out.append("")
        out.append("hottest innermost frames                         share")
        for name, count in self.leaves.most_common(15):
            out.append(_row(name[:48], count, self.samples, None))
        return out


def _row(name: str, count: int, total: int, deliveries: int | None) -> str:
    share = f"{100 * count / total:5.1f} %" if total else "  n/a"
    per = f"{count / RATE / deliveries * 1e6:8.1f}" if deliveries else ""
    return f"{name:<48} {share} {per}"


def summarize(raw: str) -> Summary:
    summary = Summary()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [(m["func"], m["file"]) for f in stack.split(";") if (m := _FRAME.match(f))]
        summary.samples += count
        summary.layers[_layer(frames)] += count
        if frames:
            func, file = frames[-1]
            summary.leaves[f"{func} ({Path(file).name})"] += count
        for name, func_name, fragment in STEPS:
            if any((not func_name or _named(f, func_name)) and fragment in p for f, p in frames):
                summary.steps[name] += count
    return summary


def _layer(frames: list[tuple[str, str]]) -> str:
    for func, file in reversed(frames):
        for name, wanted, fragment in LAYERS:
            if fragment in file and (wanted is None or _named(func, wanted)):
                return name
    return "other"


def _named(func: str, wanted: str) -> bool:
    """py-spy names methods ``Class.method``; match on the last part."""
    return func == wanted or func.endswith("." + wanted)


class Profiler:
    """py-spy attached to a process until :meth:`stop`."""

    def __init__(self, base: Path, processes: list[subprocess.Popen[bytes]]) -> None:
        self.raw_path = base.with_suffix(".txt")
        self.svg_path = base.with_suffix(".svg")
        self.summary_path = base.with_suffix(".summary.txt")
        self._processes = processes

    @classmethod
    def start(cls, pid: int, base: Path) -> Profiler:
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        base.parent.mkdir(parents=True, exist_ok=True)
        common = ["record", "--pid", str(pid), "--rate", str(RATE), "--idle", "--nonblocking"]
        outputs = [
            ["--format", "raw", "-o", str(base.with_suffix(".txt"))],
            ["--format", "flamegraph", "-o", str(base.with_suffix(".svg"))],
        ]
        log = base.with_suffix(".log").open("wb")
        processes = [
            subprocess.Popen([spy, *common, *out], stdout=log, stderr=subprocess.STDOUT)
            for out in outputs
        ]
        log.close()
        return cls(base, processes)

    def stop(self, deliveries: int | None = None) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.raw_path.exists():
            lines = summarize(self.raw_path.read_text()).lines(deliveries)
            self.summary_path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="Summarize a py-spy raw profile of a worker.")
    parser.add_argument("raw", type=Path)
    parser.add_argument("--deliveries", type=int, help="deliveries made while sampling")
    args = parser.parse_args()
    print("\n".join(summarize(args.raw.read_text()).lines(args.deliveries)))


if __name__ == "__main__":
    main()
