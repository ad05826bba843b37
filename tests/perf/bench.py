"""The performance harness: every figure measured with its baseline in the same run.

Starts a private Redis, the sandbox, a fast webhook sink and the bridge API as separate
processes on 127.0.0.1, then runs each figure against freshly flushed Redis state with a
``bridge worker`` of its own, prints a table and writes it as JSON. Goals are ratios or
bounds against baselines taken in the same run, so the figures travel between machines.

    .venv/bin/python -m tests.perf.bench                   # everything (< 10 min on 2 cores)
    .venv/bin/python -m tests.perf.bench --quick           # smaller sizes, about 2 min
    .venv/bin/python -m tests.perf.bench --only deliveries,api-latency --events 5000
    .venv/bin/python -m tests.perf.bench --only deliveries --events 60000 --profile

Exit code 0 even when a goal is missed (it is a measurement); ``--strict`` exits 1 then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.perf import latency, throughput, upstream
from tests.perf.context import QUICK, Context, Sizes
from tests.perf.cpu import CpuSnapshot, usage
from tests.perf.report import Result, print_table, write_json
from tests.perf.stack import Stack

__all__ = ["FIGURES", "main"]

Figure = Callable[[Context], Awaitable[Result]]

FIGURES: dict[str, Figure] = {
    "deliveries": throughput.deliveries,
    "fanout": throughput.fanout,
    "poll-latency": latency.poll_latency,
    "hint-latency": latency.hint_latency,
    "api-latency": latency.api_latency,
    "upstream-cost": upstream.upstream_cost,
    "worker-memory": upstream.worker_memory,
}
ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--only", help=f"comma-separated figures (default: all): {', '.join(FIGURES)}"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter windows")
    parser.add_argument("--json", type=Path, default=BUILD / "bench.json", help="result file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="S",
        help="before each figure wait up to S seconds for other load on the machine to drop "
        "below 0.3 cores (shared machines); default 0: do not wait",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the worker during 'deliveries' (build/worker-profile.{txt,svg,summary.txt})",
    )
    sizes = parser.add_argument_group("sizes (override the full or --quick defaults)")
    for f in dataclasses.fields(Sizes):
        kind = float if f.type in ("float", float) else int
        sizes.add_argument(f"--{f.name.replace('_', '-')}", type=kind, metavar="N")
    return parser


def _sizes(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else Sizes()
    chosen = {f.name: getattr(args, f.name) for f in dataclasses.fields(Sizes)}
    return dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None})


def _selected(only: str | None) -> list[str]:
    if not only:
        return list(FIGURES)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise SystemExit(f"unknown figure(s): {', '.join(unknown)}; choose from {list(FIGURES)}")
    return [n for n in FIGURES if n in names]  # always in the documented order


async def _run(ctx: Context, names: list[str], settle: float) -> list[Result]:
    results = []
    for name in names:
        pids = ctx.stack.service_pids()
        waited = await _quiet_machine(pids, settle) if settle > 0 else 0.0
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        started = time.monotonic()
        before = CpuSnapshot.take(pids)
        try:
            result = await FIGURES[name](ctx)
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            result = Result(name, "", None, None, None, "", None, error=f"{exc!r}"[:300])
        result.seconds = round(time.monotonic() - started, 1)
        result.cpu = usage(before, CpuSnapshot.take(pids)) | {"waited_for_quiet_s": waited}
        verdict = {True: "ok", False: "FAIL", None: "ERROR"}[result.passed]
        print(
            f"[{time.strftime('%H:%M:%S')}] {name}: {result.measured_text} "
            f"(baseline {result.baseline_text}) {verdict} in {result.seconds} s",
            flush=True,
        )
        results.append(result)
    return results


def _interrupt(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    """Ctrl-C and SIGTERM cancel the run; every process is stopped on the way out. The
    cancellation is repeated until it lands: a library may swallow one (anyio's shielded
    scopes inside httpx do), or it may arrive while a worker is being stopped."""
    if not task.done():
        task.cancel()
        loop.call_later(0.5, _interrupt, loop, task)


async def _quiet_machine(pids: list[int], limit: float) -> float:
    """Wait until others use under 0.3 cores (2 s samples), at most ``limit`` s; seconds waited."""
    started = time.monotonic()
    while True:
        before = CpuSnapshot.take(pids)
        await asyncio.sleep(2.0)
        others = usage(before, CpuSnapshot.take(pids))["others_cores"]
        waited = time.monotonic() - started
        if others < 0.3 or waited >= limit:
            if others >= 0.3:
                print(f"  the machine is still busy ({others} cores not ours): going on")
            return round(waited, 1)


async def _measure(
    stack: Stack, names: list[str], sizes: Sizes, profile: bool, settle: float
) -> list[Result]:
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _interrupt, loop, main_task)
    ctx = Context.open(stack, sizes, BUILD, profile=profile)
    try:
        return await _run(ctx, names, settle)
    finally:
        await ctx.aclose()


def _header(sizes: Sizes, names: list[str], quick: bool, wall: float) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "bridge_changed": bool(_git("status", "--porcelain", "--", "bridge")),
        "mode": "quick" if quick else "full",
        "figures_run": names,
        "sizes": sizes.as_dict(),
        "wall_seconds": round(wall, 1),
        "command": " ".join(["python -m tests.perf.bench", *sys.argv[1:]]),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _git(*args: str) -> str:
    """Read-only git facts for the record; empty when git or the repository is missing."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()
    return ""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = _selected(args.only)
    sizes = _sizes(args)
    started = time.monotonic()
    logs = args.json.parent / "bench-logs"
    print(f"figures: {', '.join(names)}; process logs in {logs}", flush=True)
    try:
        with Stack(logs) as stack:
            results = asyncio.run(_measure(stack, names, sizes, args.profile, args.settle))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: every process started here was stopped", file=sys.stderr)
        return 130
    wall = time.monotonic() - started
    print_table(results)
    write_json(args.json, _header(sizes, names, args.quick, wall), results)
    print(f"wall time {wall:.0f} s; written to {args.json}")
    missed = any(not r.passed for r in results)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
