"""The committed OpenAPI document is the one the code generates."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.cli import openapi_document

COMMITTED = Path(__file__).parent.parent / "openapi-out" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert COMMITTED.exists(), "run 'make openapi' to write openapi-out/openapi.json"
    assert COMMITTED.read_text(encoding="utf-8") == openapi_document(), (
        "openapi-out/openapi.json is stale: run 'make openapi' and commit the result"
    )


def test_every_v1_operation_documents_its_problem_answers() -> None:
    document = json.loads(openapi_document())
    for path, operations in document["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "401" in responses, f"{method} {path} lacks 401"
            assert "400" in responses, f"{method} {path} lacks 400"
            problem = responses["401"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"].endswith("/Problem")
