"""Every operation of the committed OpenAPI document has a client method, and every client
method is an operation of the document."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.client import AsyncBridgeClient, BridgeClient
from bridge.client.calls import Operation, Pages
from bridge.client.http import Operations

DOCUMENT = Path(__file__).parent.parent.parent / "openapi-out" / "openapi.json"
METHODS = {"get", "put", "post", "patch", "delete"}


def documented() -> set[tuple[str, str]]:
    paths = json.loads(DOCUMENT.read_text(encoding="utf-8"))["paths"]
    return {
        (method.upper(), path)
        for path, item in paths.items()
        if path.startswith("/v1/")
        for method in item
        if method in METHODS
    }


def client_routes() -> dict[str, tuple[str, str]]:
    found = {}
    for name in dir(Operations):
        described = getattr(Operations, name)
        if isinstance(described, (Operation, Pages)):
            found[name] = (described.route.method, described.route.path)
    return found


def test_every_documented_operation_has_a_client_method() -> None:
    covered = set(client_routes().values())
    missing = sorted(documented() - covered)
    assert not missing, f"operations of openapi.json without a client method: {missing}"


def test_every_client_method_is_a_documented_operation() -> None:
    operations = documented()
    stray = {name: route for name, route in client_routes().items() if route not in operations}
    assert not stray, f"client methods for routes openapi.json does not have: {stray}"


def test_both_clients_have_every_method() -> None:
    with BridgeClient("http://127.0.0.1:9", "t") as blocking:
        asynchronous = AsyncBridgeClient("http://127.0.0.1:9", "t")
        for name in client_routes():
            assert callable(getattr(blocking, name))
            assert callable(getattr(asynchronous, name))


def test_the_document_has_operations_at_all() -> None:
    assert len(documented()) >= 29
