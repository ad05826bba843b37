"""Both sides of the upstream contract checked against Calypso's published spec.

Every request body the client sends must validate against the spec's request schema, and
every answer the sandbox gives (success and error) against the spec's response schemas. The
spec is vendored next to this file; the tests never read anything outside the project.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.calypso.endpoints import ENDPOINTS
from bridge.calypso.errors import CalypsoError
from tests.support.config import calypso_client
from tests.support.sandbox_server import RunningServer

SPEC = json.loads((Path(__file__).parent / "customer-purse-api.openapi.json").read_text())


def _validator(schema: dict[str, Any]) -> OAS30Validator:
    rooted = {**schema, "components": SPEC["components"]}
    return OAS30Validator(rooted, format_checker=oas30_format_checker)


def request_schema(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = SPEC["paths"][path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def response_schema(path: str, status: int) -> dict[str, Any]:
    schema: dict[str, Any] = SPEC["paths"][path]["post"]["responses"][str(status)]["content"][
        "*/*"
    ]["schema"]
    return schema


class Recorder:
    def __init__(self) -> None:
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.exchanges.append((response.request, response))


@pytest.fixture
async def recorded(sandbox: RunningServer) -> Any:
    recorder = Recorder()
    http = httpx.AsyncClient(event_hooks={"response": [recorder.on_response]})
    client = calypso_client(sandbox.url, http=http)
    async with client:
        yield client, recorder


async def exercise_every_endpoint(client: CalypsoClient, control: httpx.AsyncClient) -> None:
    customer = await client.create_customer(
        models.CustomerCreate(email="c@example.com", description="d", externalId="contract")
    )
    await client.create_customer(models.CustomerCreate())
    customer_id = uuid.UUID(customer.id)
    await client.get_customer(customer_id)
    await client.find_customers_by_external_id("contract")
    await client.update_customer(models.CustomerUpdate(customer_id, email="e@example.com"))
    await client.block_customer(customer_id)
    await client.unblock_customer(customer_id)
    purse = await client.get_purse_address(customer_id, "ETH")
    await client.get_purse_address(customer_id, "BTC")
    await client.get_purses(customer_id)
    made = await control.post(
        "/sandbox/deposits",
        json={"address": purse.address, "currency": "ETH", "amount": "0.123456789012345678"},
    )
    await client.get_transaction(uuid.UUID(made.json()["id"]))
    await client.find_transactions(
        models.TransactionSearch(
            customer_id,
            1,
            5,
            "DESC",
            "createdDate",
            currencyFilter=models.StringFilter(in_=["ETH", "BTC"]),
            transactionStateFilter=models.TransactionStateFilter(
                notIn=[models.TransactionState.DECLINED]
            ),
        )
    )
    # Error answers are part of the contract too.
    for failing in (
        client.get_customer(uuid.uuid4()),
        client.get_transaction(uuid.uuid4()),
        client.get_purse_address(customer_id, "NOPE"),
    ):
        with pytest.raises(CalypsoError):
            await failing


async def test_every_request_and_answer_matches_the_published_spec(
    recorded: Any, sandbox_control: httpx.AsyncClient
) -> None:
    client, recorder = recorded
    await exercise_every_endpoint(client, sandbox_control)

    seen_paths = {request.url.path for request, _ in recorder.exchanges}
    assert seen_paths == {endpoint.path for endpoint in ENDPOINTS}
    statuses = set()
    for request, response in recorder.exchanges:
        path = request.url.path
        body = json.loads(request.content, parse_float=Decimal)
        _validator(request_schema(path)).validate(body)
        answer = json.loads(response.content, parse_float=Decimal)
        _validator(response_schema(path, response.status_code)).validate(answer)
        statuses.add(response.status_code)
    assert statuses == {200, 400}


async def test_a_500_answer_matches_the_published_error_schema(
    recorded: Any, sandbox_control: httpx.AsyncClient
) -> None:
    client, recorder = recorded
    await sandbox_control.put("/sandbox/faults", json={"failNext": 1, "failNextStatus": 500})
    await client.find_customers_by_external_id("after-a-500")
    request, response = recorder.exchanges[0]
    assert response.status_code == 500
    answer = json.loads(response.content)
    _validator(response_schema(request.url.path, 500)).validate(answer)


def test_the_vendored_spec_has_the_ten_endpoints_the_client_knows() -> None:
    assert set(SPEC["paths"]) == {endpoint.path for endpoint in ENDPOINTS}
