"""The README's tour works exactly as printed, against ``bridge dev``, and every relative link
in the READMEs leads to a file that exists."""

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

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"

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


@pytest.mark.timeout(120)
def test_the_readme_tour_runs_as_printed_and_delivers_verified_webhooks(
    dev_mode: tuple[int, int],
) -> None:
    api_port, sandbox_port = dev_mode
    ports = {8080: api_port, 8090: sandbox_port, 9000: free_port()}
    result = run_on(block("tour"), ports)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert '"externalId":"user-42"' in out
    assert re.search(r'"address":"bc1q[a-z0-9]+"', out)
    assert '"currencies":["ETH","USDT_ERC20","USDC_ERC20"]' in out
    assert '"amount":"0.123456789012345678"' in out
    assert '"transactionState":"MEM_POOL_FOUND"' in out
    lifecycle = [
        "transaction.mem_pool_found",
        "transaction.pending_compliance_check",
        "transaction.confirmed",
        "transaction.credited",
    ]
    printed = [line.split() for line in out.splitlines() if " verified " in line]
    assert [words[2] for words in printed] == lifecycle, out
    assert "REJECTED" not in out
    listing = out[out.index('{\n    "items"') :]
    types = re.findall(r'"type": "([a-z_.]+)"', listing)
    issued = ["deposit_address.issued"] * 2  # BTC, then ETH
    assert types == ["customer.created", *issued, *lifecycle]


DOCUMENTS = [
    README,
    ROOT / "tests" / "README.md",
    ROOT / "tests" / "perf" / "README.md",
    ROOT / "bridge" / "sandbox" / "README.md",
    ROOT / "deploy" / "README.md",
    ROOT / "deploy" / "CAPACITY.md",
    ROOT / "docs" / "errors.md",
]


def _prose(document: Path) -> str:
    """The document without its fenced code, where brackets are code, not links."""
    return re.sub(r"^```.*?^```", "", document.read_text(encoding="utf-8"), flags=re.S | re.M)


def _anchors(document: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", _prose(document), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_leads_to_an_existing_file_and_heading(document: Path) -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", _prose(document))
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert relative, f"{document.name} links nowhere"
    for link in relative:
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        assert target.exists(), f"{document.relative_to(ROOT)}: {link} does not exist"
        if anchor:
            assert anchor in _anchors(target), f"{document.relative_to(ROOT)}: no #{anchor}"


def test_every_setting_is_in_the_configuration_table_and_test_only_ones_in_tests_readme() -> None:
    read = set(re.findall(r'"(BRIDGE_[A-Z_]+)"', (ROOT / "bridge" / "config.py").read_text()))
    table = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    test_only = {"BRIDGE_FAULT_AFTER_UPSTREAM", "BRIDGE_FAULT_INJECTION"}
    assert sorted(v for v in read - test_only if v not in table) == []
    tests_readme = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    assert all(v in tests_readme for v in test_only)
