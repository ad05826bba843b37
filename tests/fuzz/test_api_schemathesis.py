"""Schemathesis against the committed OpenAPI document and a running bridge (DESIGN §3).

Every operation of ``openapi-out/openapi.json`` (the committed file, not the app's live
schema) gets generated requests, valid and invalid, with and without the bearer token, through
real sockets to a bridge backed by a real Redis and a sandbox of its own. Every answer must be
documented for its operation, match the documented content type and schema, and never be a
5xx; every error must be an RFC 9457 problem document. Generation is derandomized and seeded:
a failure reproduces, and its curl command is in the report.

Generated ids name nothing and end in 404 or 400; a hook swaps in real ids (a seeded
customer, transaction, subscription and event), a real webhook URL and currency for a third
of the valid cases, so the success paths and their response schemas are exercised as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.parameters import ParameterLocation

from bridge.api.inbound import MAX_BODY
from bridge.calypso.signing import sign
from tests.fuzz.conftest import (
    INBOUND_SECRET,
    SEED_EXTERNAL_ID,
    SEED_HOOK_URL,
    SEEDS,
    FuzzTarget,
)
from tests.support.config import TOKEN

# Hundreds of generated requests over real sockets. Serial: schemathesis gives its items one
# node id per test function, and xdist would run one operation of the thirty.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

Case = schemathesis.Case[Any]

SPEC = Path(__file__).parents[2] / "openapi-out" / "openapi.json"
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:calypso-bridge:problem:"
# Per operation, on top of the schema's examples and the coverage phase's boundary cases.
EXAMPLES_PER_OPERATION = 150
# Valid input may still be refused for reasons a schema cannot express: the id names nothing
# (404), the subscription is disabled (409), the SSRF policy refuses the URL or Calypso's own
# validation says no (422). Never a 400: that would mean the document promises too much.
VALID_BUT_REFUSED = ["2XX", "404", "409", "422"]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260101,
        "generation": {
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            "database": "none",
            # Unknown query parameters are ignored, as by most HTTP APIs; not a defect.
            "allow-extra-parameters": False,
        },
        "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
        # One request at a time: chaining operations needs links the document does not have.
        "phases": {"stateful": {"enabled": False}},
        "checks": {"positive_data_acceptance": {"expected-statuses": VALID_BUT_REFUSED}},
        "operations": [
            {
                # Authenticated by a signature over the body, which generation cannot forge;
                # signed requests are the business of the test after this one.
                "include-path": "/v1/calypso/webhooks",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*VALID_BUT_REFUSED, "401"]}
                },
            },
            {
                # An endless text/event-stream (no position: it waits for new events): a
                # generated request would hang the run. tests/api/test_event_stream.py covers
                # its answers with a real SSE client.
                "include-path": "/v1/events/stream",
                "enabled": False,
            },
        ],
    }
)
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)


def problem_documents(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> None:
    """Every error is an RFC 9457 problem document with a stable code and no stack trace."""
    if response.status_code < 400:
        return
    media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert media_type == PROBLEM_MEDIA_TYPE, f"an error answered as {media_type!r}"
    problem = json.loads(response.content)
    assert problem["status"] == response.status_code, "the problem's status is not HTTP's"
    assert problem["type"] == PROBLEM_TYPE_PREFIX + problem["code"], "type and code disagree"
    assert problem["title"], "a problem without a title"
    assert "Traceback" not in response.content.decode(), "a stack trace leaked"
    if response.status_code == 401:
        assert response.headers.get("www-authenticate"), "a 401 without WWW-Authenticate"


CHECKS: list[Callable[..., Any]] = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
    checks.missing_required_header,
    checks.unsupported_method,
    checks.ignored_auth,
    problem_documents,
]


def _negative_at(case: Case, location: ParameterLocation) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def _with_real_resources(case: Case) -> Case:
    """The case naming seeded resources: ids, the customer lookup's externalId, a webhook
    URL the policy accepts and a currency Calypso knows."""
    real = {
        "customer_id": SEEDS.customer_id,
        "transaction_id": SEEDS.transaction_id,
        "event_id": SEEDS.event_id,
        "subscription_id": SEEDS.subscription_id,
    }
    if case.method == "DELETE" and case.operation.path == "/v1/subscriptions/{subscription_id}":
        # Deleting spends a subscription of its own, never the one the others use.
        spare = SEEDS.disposable_subscription_ids
        real["subscription_id"] = spare.pop() if spare else case.path_parameters["subscription_id"]
    if case.path_parameters:
        case.path_parameters = {
            name: real.get(name, value) for name, value in case.path_parameters.items()
        }
    if case.query is not None:
        if case.operation.path == "/v1/customers" and case.method == "GET":
            case.query = {**case.query, "externalId": SEED_EXTERNAL_ID}
        if "customerId" in case.query:
            case.query = {**case.query, "customerId": SEEDS.customer_id}
    if isinstance(case.body, dict) and not _negative_at(case, ParameterLocation.BODY):
        if "url" in case.body:
            case.body = {**case.body, "url": SEED_HOOK_URL}
        if "currency" in case.body:
            case.body = {**case.body, "currency": "BTC"}
    return case


@schema.hook("flatmap_case")
def _sometimes_real_resources(
    context: schemathesis.HookContext, case: Case
) -> st.SearchStrategy[Case]:
    # An invalid id or query is the point of its case: it stays.
    if _negative_at(case, ParameterLocation.PATH) or _negative_at(case, ParameterLocation.QUERY):
        return st.just(case)
    return st.sampled_from([False, False, True]).map(
        lambda real: _with_real_resources(case) if real else case
    )


@schema.parametrize()
def test_every_operation_answers_as_the_committed_spec_says(
    case: Case, fuzz_target: FuzzTarget
) -> None:
    transport: dict[str, Any] = {
        "base_url": fuzz_target.url,
        "session": fuzz_target.session,
        "timeout": 10,
    }
    response = case.call(**transport)
    fuzz_target.count(case.operation.label, response.status_code)
    case.validate_response(response, checks=CHECKS, transport_kwargs=transport)


# -- the inbound Calypso webhook, signed ---------------------------------------------------

INBOUND = schema["/v1/calypso/webhooks"]["POST"]
INBOUND_CHECKS = [check for check in CHECKS if check is not checks.ignored_auth]

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
# Calypso's envelope (DESIGN §2), each field sometimes of a type the docs did not promise.
_calypso_webhooks = st.fixed_dictionaries(
    {
        "requestId": st.uuids().map(str),
        "id": st.integers(1, 5) | st.text(max_size=4) | _json,
        "createdDate": st.just("2026-11-26T17:40:01.123"),
        "level": st.just("INFO"),
        "service": st.just("CUSTOMER_PURSE"),
        "eventType": st.sampled_from(
            ["CUSTOMER_PURSE_EXPIRED", "CUSTOMER_PURSE_MEM_POOL_FOUND", "CUSTOMER_PURSE_PENDING"]
        )
        | _json,
        "data": st.fixed_dictionaries(
            {"customerId": st.uuids().map(str) | _json},
            optional={
                "customerBlocked": st.booleans() | st.text(max_size=5),
                "purseId": st.uuids().map(str) | _json,
                "address": st.text(max_size=50) | _json,
                "amount": st.decimals(allow_nan=False, allow_infinity=False).map(str) | _json,
            },
        )
        | _json,
    }
)
_signed_bodies = (
    _calypso_webhooks.map(lambda hook: json.dumps(hook).encode())
    | _json.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=64)
)


def _post_signed(target: FuzzTarget, body: bytes) -> httpx.Response:
    headers = {"Sign": sign(body, INBOUND_SECRET), "Content-Type": "application/json"}
    url = f"{target.url}/v1/calypso/webhooks"
    return httpx.post(url, content=body, headers=headers, timeout=10, trust_env=False)


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(body=_signed_bodies)
def test_signed_calypso_webhooks_of_any_shape_are_answered_as_documented(
    body: bytes, fuzz_target: FuzzTarget
) -> None:
    """Whatever Calypso signs gets a documented answer: accepted, a duplicate, or a 400."""
    response = _post_signed(fuzz_target, body)
    fuzz_target.count("POST /v1/calypso/webhooks, signed", response.status_code)
    INBOUND.Case().validate_response(response, checks=INBOUND_CHECKS)
    assert response.status_code in (200, 202, 400), response.text


def test_an_oversized_signed_webhook_is_refused_as_documented(fuzz_target: FuzzTarget) -> None:
    body = json.dumps({"id": 1, "padding": "x" * MAX_BODY}).encode()
    response = _post_signed(fuzz_target, body)
    assert response.status_code == 413
    INBOUND.Case().validate_response(response, checks=INBOUND_CHECKS)
