"""The benchmark harness runs end to end in a tiny mode and writes its JSON (no goal asserted:
performance is measured by ``make bench``, not by the test suite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("BRIDGE_TEST_REDIS_URL"),
    reason="the harness starts its own redis-server",
)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_tiny_run_writes_every_figure_with_positive_numbers(tmp_path: Path) -> None:
    result_file = tmp_path / "bench.json"
    command = [sys.executable, "-m", "tests.perf.bench", "--only", "deliveries,api-latency"]
    command += ["--events", "300", "--requests", "100", "--json", str(result_file)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=80, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "deliveries" in done.stdout

    document = json.loads(result_file.read_text())
    assert {"date", "nproc", "mode", "sizes", "wall_seconds", "figures"} <= document.keys()
    assert set(document["figures"]) == {"deliveries", "api-latency"}
    for figure in document["figures"].values():
        assert figure["error"] is None
        assert {"measured", "baseline", "ratio", "goal", "passed", "unit"} <= figure.keys()
        assert figure["measured"] > 0
        assert figure["baseline"] > 0
        assert isinstance(figure["passed"], bool)
    assert document["figures"]["deliveries"]["details"]["bridge"]["distinct"] == 300
    # One log per worker process of the figure (two by default: worker-deliveries-0, -1).
    assert sorted((tmp_path / "bench-logs").glob("worker-deliveries*.log"))
