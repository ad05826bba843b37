"""The README's walkthrough works exactly as printed, against ``bridge dev``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.local_redis import free_port

README = Path(__file__).parent.parent / "README.md"


def walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- walkthrough:start -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", text, re.S
    )
    assert block, "README lost its walkthrough markers"
    return block.group(1)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "bridge dev exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def dev_mode(redis_url: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    api_port, sandbox_port = free_port(), free_port()
    log = (tmp_path / "dev.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge",
            "dev",
            "--port",
            str(api_port),
            "--sandbox-port",
            str(sandbox_port),
        ],
        env={**os.environ, "BRIDGE_REDIS_URL": redis_url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(api_port, process)
        wait_for_port(sandbox_port, process)
        yield api_port, sandbox_port
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.mark.timeout(90)
def test_the_readme_walkthrough_runs_as_printed(dev_mode: tuple[int, int]) -> None:
    api_port, sandbox_port = dev_mode
    script = walkthrough()
    assert "127.0.0.1:8080" in script
    assert "127.0.0.1:8090" in script
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{api_port}")
    script = script.replace("127.0.0.1:8090", f"127.0.0.1:{sandbox_port}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert '"externalId":"user-42"' in out
    assert re.search(r'"address":"bc1q[a-z0-9]+"', out)
    assert '"currencies":["ETH","USDT_ERC20","USDC_ERC20"]' in out
    assert '"amount":"0.123456789012345678"' in out
    assert '"transactionState":"MEM_POOL_FOUND"' in out
