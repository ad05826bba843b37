"""Every operation of the committed OpenAPI document has a client method, every client
method is an operation of the document, and the client's answer structs have the fields the
document gives each answer (the client mirrors them: it may not import the server's)."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec

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


def _answer_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    answers = document["paths"][path][method.lower()]["responses"]
    success = next(code for code in answers if code.startswith("2"))
    content: dict[str, dict[str, Any]] = answers[success].get("content", {})
    schema: dict[str, Any] | None = next(iter(content.values()), {}).get("schema")
    while schema is not None and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_answer_struct_has_the_fields_of_the_documented_answer() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    compared, drifted = 0, dict[str, list[str]]()
    for name in dir(Operations):
        described = getattr(Operations, name)
        if not isinstance(described, Operation):
            continue
        [answer] = typing.get_args(typing.get_type_hints(described.build)["return"])
        schema = _answer_schema(document, described.route.method, described.route.path)
        if schema is None or not (isinstance(answer, type) and issubclass(answer, msgspec.Struct)):
            continue  # no body (204), or a list the route documents inline
        fields = {f.encode_name for f in msgspec.structs.fields(answer)}
        if fields != set(schema.get("properties", {})):
            drifted[name] = sorted(fields ^ set(schema.get("properties", {})))
        compared += 1
    assert not drifted, f"client answer structs that differ from openapi.json: {drifted}"
    assert compared >= 25


def test_the_document_has_operations_at_all() -> None:
    assert len(documented()) >= 29
