"""The README's walkthrough works exactly as printed, against ``bridge dev``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.local_redis import free_port
from tests.support.waiting import eventually_sync

README = Path(__file__).parent.parent / "README.md"

pytestmark = pytest.mark.slow  # each test starts `bridge dev` and runs the README's shell


def block(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {name}:start -->\n```bash\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    assert found, f"README lost its {name} markers"
    return found.group(1)


def run_on(script: str, ports: dict[int, int]) -> subprocess.CompletedProcess[str]:
    for printed, actual in ports.items():
        assert f"127.0.0.1:{printed}" in script
        script = script.replace(f"127.0.0.1:{printed}", f"127.0.0.1:{actual}")
        script = script.replace(f"--port {printed}", f"--port {actual}")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=README.parent,
    )


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    def listening() -> bool:
        assert process.poll() is None, "bridge dev exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    eventually_sync(listening, within=timeout, interval=0.1, what=f"bridge dev on {port}")


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
    result = run_on(block("walkthrough"), {8080: api_port, 8090: sandbox_port})
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert '"externalId":"user-42"' in out
    assert re.search(r'"address":"bc1q[a-z0-9]+"', out)
    assert '"currencies":["ETH","USDT_ERC20","USDC_ERC20"]' in out
    assert '"amount":"0.123456789012345678"' in out
    assert '"transactionState":"MEM_POOL_FOUND"' in out


@pytest.mark.timeout(120)
def test_the_readme_tour_delivers_verified_webhooks(dev_mode: tuple[int, int]) -> None:
    api_port, sandbox_port = dev_mode
    ports = {8080: api_port, 8090: sandbox_port, 9000: free_port()}
    result = run_on(block("tour"), ports)
    assert result.returncode == 0, result.stderr + result.stdout
    lifecycle = [
        "transaction.mem_pool_found",
        "transaction.pending_compliance_check",
        "transaction.confirmed",
        "transaction.credited",
    ]
    printed = [line.split() for line in result.stdout.splitlines() if " verified " in line]
    assert [words[2] for words in printed] == lifecycle, result.stdout
    assert "BAD SIGNATURE" not in result.stdout
    listing = result.stdout[result.stdout.index('{\n    "items"') :]
    types = re.findall(r'"type": "([a-z_.]+)"', listing)
    assert types == ["customer.created", "deposit_address.issued", *lifecycle]
