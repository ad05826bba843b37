"""One result per figure, the table printed at the end, and the JSON written beside it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Result", "percentile", "print_table", "write_json"]

DASH = "—"


@dataclass(slots=True)
class Result:
    """A figure's outcome. ``baseline`` and ``measured`` are numbers in ``unit``; ``passed``
    is None when the figure could not be measured (``error`` says why)."""

    figure: str
    unit: str
    measured: float | None
    baseline: float | None
    ratio: float | None
    goal: str
    passed: bool | None
    baseline_text: str = DASH
    measured_text: str = DASH
    ratio_text: str = DASH
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; a lost sample counts as infinitely late."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def number(value: float, digits: int = 0) -> str:
    if math.isinf(value):
        return "∞"
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def print_table(results: Sequence[Result]) -> None:
    rows = [("figure", "baseline", "measured", "ratio", "goal", "pass")]
    for r in results:
        verdict = "yes" if r.passed else ("FAIL" if r.passed is False else "ERROR")
        rows.append((r.figure, r.baseline_text, r.measured_text, r.ratio_text, r.goal, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print()
    for r in results:
        for note in ([f"error: {r.error}"] if r.error else []) + r.notes:
            print(f"{r.figure}: {note}")
    print()
    print(f"{'figure':<16} seconds  cores busy: machine  ours  others  steal")
    for r in results:
        c = r.cpu
        print(
            f"{r.figure:<16} {r.seconds:7.1f}  {c.get('machine_busy_cores', 0):19.2f} "
            f"{c.get('ours_cores', 0):5.2f} {c.get('others_cores', 0):7.2f} "
            f"{c.get('steal_cores', 0):6.2f}"
        )
    failed = [r.figure for r in results if not r.passed]
    print()
    print(f"FAIL: {', '.join(failed)}" if failed else "all goals met")


def write_json(path: Path, header: dict[str, Any], results: Sequence[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**header, "figures": {r.figure: _clean(asdict(r)) for r in results}}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _clean(value: Any) -> Any:
    """JSON has no infinity: a lost latency sample is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
