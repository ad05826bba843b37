"""Webhooks as a receiver gets them match the published catalog (DESIGN §11).

The samples of ``POST /v1/subscriptions/{id}/test`` validate against their types' JSON
Schemas; models a receiver generates from the OpenAPI ``webhooks`` section (with
datamodel-code-generator, in a subprocess) parse the bodies a real worker delivered.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from bridge.events.catalog import WEBHOOK_COMPONENT_PREFIX
from bridge.events.model import EventType
from bridge.events.typed import TYPED_EVENTS
from bridge.store.connection import RedisClient
from bridge.worker import Worker
from tests.support.event_schemas import check_event_streams, schema_problems
from tests.support.reading import verified
from tests.support.receiver import WebhookReceiver
from tests.support.steps import advance, deposit, new_customer_with_address, poll_now, subscribe

Api = httpx.AsyncClient
SPEC = Path(__file__).parents[2] / "openapi-out" / "openapi.json"


async def test_the_test_sample_of_every_type_validates_against_its_schema(
    api: Api, worker: Worker, receiver: WebhookReceiver
) -> None:
    subscription = await subscribe(api, f"{receiver.url}/hook")
    for kind in EventType:
        answer = await api.post(
            f"/v1/subscriptions/{subscription['id']}/test", json={"type": kind.value}
        )
        assert answer.status_code == 202, answer.text
    await worker.deliver()
    arrivals = await receiver.wait_for(len(EventType), "/hook", exactly=True)
    events = [verified(subscription["secret"], a) for a in arrivals]
    assert sorted(e["type"] for e in events) == sorted(kind.value for kind in EventType)
    for event in events:
        assert schema_problems(event) == [], event


def generated_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """What a receiver's team would run on the committed document, then import."""
    target = tmp_path / "receiver_models.py"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "datamodel-codegen"),
            "--input", str(SPEC),
            "--input-file-type", "openapi",
            "--output-model-type", "pydantic_v2.BaseModel",
            "--formatters", "ruff-format",
            "--output", str(target),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    spec = importlib.util.spec_from_file_location("receiver_models", target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # pydantic looks its generic models up in sys.modules while the module runs.
    monkeypatch.setitem(sys.modules, "receiver_models", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
async def test_models_generated_from_the_webhooks_section_parse_real_webhooks(
    api: Api,
    worker: Worker,
    sandbox_control: httpx.AsyncClient,
    receiver: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models = generated_models(tmp_path, monkeypatch)
    subscription = await subscribe(api, f"{receiver.url}/hook")
    customer, address = await new_customer_with_address(api)
    assert (await api.post(f"/v1/customers/{customer}/block")).status_code == 200
    tx = await deposit(sandbox_control, address, "0.123456789012345678")
    await poll_now(worker, customer)
    await advance(sandbox_control, tx)
    await poll_now(worker, customer)
    await worker.deliver()
    arrivals = await receiver.wait_for(5, "/hook")

    parsed: dict[str, Any] = {}
    for arrival in arrivals:
        kind = EventType(verified(subscription["secret"], arrival)["type"])
        model = getattr(models, WEBHOOK_COMPONENT_PREFIX + TYPED_EVENTS[kind].__name__)
        parsed[kind.value] = model.model_validate_json(arrival.body)
    assert set(parsed) >= {
        "customer.created",
        "deposit_address.issued",
        "customer.blocked",
        "transaction.mem_pool_found",
        "transaction.pending_compliance_check",
    }
    first = parsed["transaction.mem_pool_found"]
    assert (first.data.customerId, first.data.sequence, first.data.previous) == (customer, 1, None)
    assert first.data.transaction.amount == "0.123456789012345678"
    assert parsed["customer.blocked"].data.customer.blocked is True


async def test_an_event_that_breaks_its_schema_is_caught(redis: RedisClient) -> None:
    """The check every test gets at its end (tests/conftest.py) does find a bad event."""
    key = "bridge:{0x" + "00" * 20 + "}:events"
    await redis.xadd(key, {"id": "x", "type": "ping", "event": b'{"type":"ping","data":{}}'})
    with pytest.raises(AssertionError, match="do not match their schema"):
        await check_event_streams(redis)
    await redis.delete(key)
