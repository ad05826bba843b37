"""``bridge.client`` imports none of the server's dependencies (a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_ONLY = (
    "litestar",
    "uvicorn",
    "structlog",
    "prometheus_client",
    "tenacity",
    "cryptography",
    "aiohttp",
    "bridge.api",
    "bridge.config",
    "bridge.store",
    "bridge.delivery",
    "bridge.poller",
    "bridge.wiring",
    "bridge.calypso.client",
)
ALLOWED_THIRD_PARTY = {"httpx", "msgspec", "redis", "standardwebhooks"}


def imported_by(statement: str) -> list[str]:
    code = f"{statement}; import sys, json; print(json.dumps(sorted(sys.modules)))"
    answer = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(answer.stdout))


def test_importing_the_client_kit_pulls_in_no_server_dependency() -> None:
    modules = imported_by(
        "import bridge.client; from bridge.client import BridgeClient, AsyncBridgeClient, "
        "EventConsumer, verify_webhook"
    )
    assert "bridge.client" in modules
    # What its four dependencies import by themselves (redis probes for cryptography, httpx
    # for its command line's click) is theirs; the rest must be the kit's own and stdlib.
    baseline = set(imported_by("import httpx, msgspec, redis.asyncio, standardwebhooks"))
    added = [m for m in modules if m not in baseline]
    found = [m for m in added for s in SERVER_ONLY if m == s or m.startswith(s + ".")]
    assert not found, f"bridge.client imported server modules: {found}"
    third_party = {m.split(".")[0] for m in added if m.split(".")[0] not in sys.stdlib_module_names}
    assert third_party <= {"bridge"} | ALLOWED_THIRD_PARTY, third_party


def test_its_bridge_modules_are_the_client_and_the_msgspec_only_event_model_and_catalog() -> None:
    modules = imported_by("import bridge.client")
    ours = {m for m in modules if m.startswith("bridge.") and not m.startswith("bridge.client")}
    assert ours <= {
        "bridge.calypso",
        "bridge.calypso.models",
        "bridge.events",
        "bridge.events.catalog",
        "bridge.events.model",
        "bridge.events.payloads",
        "bridge.events.samples",
        "bridge.events.typed",
        "bridge.views",
    }, ours
