"""The Calypso client against the sandbox, over real sockets."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from bridge.calypso import models
from bridge.calypso.client import CalypsoClient
from bridge.calypso.errors import (
    CalypsoAuthFailed,
    CalypsoNotFound,
    CalypsoRateLimited,
    CalypsoRejected,
    CalypsoTimeout,
    CalypsoUnavailable,
)
from bridge.calypso.retry import RetryPolicy
from tests.support.config import API_KEY, API_SECRET, FAST_RETRY, calypso_client
from tests.support.sandbox_server import RunningServer


async def counts(control: httpx.AsyncClient, endpoint: str) -> dict[str, int]:
    snapshot = (await control.get("/sandbox/counters")).json()
    entry = snapshot["byEndpoint"].get(endpoint, {"byStatus": {}})
    return {str(k): int(v) for k, v in entry["byStatus"].items()}


async def deposit(control: httpx.AsyncClient, address: str, currency: str, amount: str) -> str:
    answer = await control.post(
        "/sandbox/deposits", json={"address": address, "currency": currency, "amount": amount}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_customer_lifecycle_through_every_customer_call(calypso: CalypsoClient) -> None:
    created = await calypso.create_customer(
        models.CustomerCreate(email="ada@example.com", description="first", externalId="ext-1")
    )
    assert created.blocked is False
    assert created.externalId == "ext-1"
    customer_id = uuid.UUID(created.id)

    assert await calypso.get_customer(customer_id) == created
    assert [c.id for c in await calypso.find_customers_by_external_id("ext-1")] == [created.id]
    assert await calypso.find_customers_by_external_id("nobody") == []

    updated = await calypso.update_customer(models.CustomerUpdate(customer_id, description="2nd"))
    assert (updated.description, updated.email) == ("2nd", "ada@example.com")
    assert (await calypso.block_customer(customer_id)).blocked is True
    assert (await calypso.unblock_customer(customer_id)).blocked is False


async def test_an_18_decimal_amount_arrives_exactly(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    customer = await calypso.create_customer(models.CustomerCreate())
    purse = await calypso.get_purse_address(uuid.UUID(customer.id), "ETH")
    tx_id = await deposit(sandbox_control, purse.address, "ETH", "0.123456789012345678")

    one = await calypso.get_transaction(uuid.UUID(tx_id))
    assert one.amount == Decimal("0.123456789012345678")
    assert str(one.amount) == "0.123456789012345678"
    page = await calypso.find_transactions(
        models.TransactionSearch(uuid.UUID(customer.id), 1, 10, "DESC", "createdDate")
    )
    assert [t.amount for t in page.result] == [Decimal("0.123456789012345678")]
    assert (page.page, page.size, page.total, page.totalElements) == (1, 10, 1, 1)


async def test_purses_and_filtered_transaction_search(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    customer_id = uuid.UUID((await calypso.create_customer(models.CustomerCreate())).id)
    btc = await calypso.get_purse_address(customer_id, "BTC")
    eth = await calypso.get_purse_address(customer_id, "ETH")
    assert btc.address.startswith("bc1q")
    assert eth.address.startswith("0x")
    assert {p.id for p in await calypso.get_purses(customer_id)} == {btc.id, eth.id}
    await deposit(sandbox_control, btc.address, "BTC", "0.5")
    await deposit(sandbox_control, eth.address, "ETH", "1.25")

    only_btc = await calypso.find_transactions(
        models.TransactionSearch(
            customer_id,
            1,
            10,
            "ASC",
            "createdDate",
            currencyFilter=models.StringFilter(equals="BTC"),
        )
    )
    assert [t.currency for t in only_btc.result] == ["BTC"]
    in_mempool = await calypso.find_transactions(
        models.TransactionSearch(
            customer_id,
            1,
            10,
            "ASC",
            "createdDate",
            transactionStateFilter=models.TransactionStateFilter(
                in_=[models.TransactionState.MEM_POOL_FOUND]
            ),
        )
    )
    assert in_mempool.totalElements == 2


async def test_upstream_errors_carry_code_message_and_trace_id(calypso: CalypsoClient) -> None:
    with pytest.raises(CalypsoNotFound) as caught:
        await calypso.get_customer(uuid.uuid4())
    assert caught.value.error_code == "004"
    assert caught.value.status == 400
    assert caught.value.trace_id
    assert caught.value.message

    with pytest.raises(CalypsoRejected) as rejected:
        await calypso.get_purse_address(
            uuid.UUID((await calypso.create_customer(models.CustomerCreate())).id), "NOPE"
        )
    assert rejected.value.error_code == "001"


async def test_wrong_secret_or_key_is_an_auth_failure(sandbox: RunningServer) -> None:
    async with calypso_client(sandbox.url, api_secret="not-the-secret") as wrong_secret:
        with pytest.raises(CalypsoAuthFailed) as caught:
            await wrong_secret.find_customers_by_external_id("x")
        assert caught.value.error_code == "003"
    async with calypso_client(sandbox.url, api_key="not-the-key") as wrong_key:
        with pytest.raises(CalypsoAuthFailed) as caught:
            await wrong_key.find_customers_by_external_id("x")
        assert caught.value.error_code == "002"


async def test_a_clock_three_minutes_off_is_refused_with_011(sandbox: RunningServer) -> None:
    async with calypso_client(sandbox.url, clock=lambda: 0.0) as stale:
        with pytest.raises(CalypsoAuthFailed) as caught:
            await stale.find_customers_by_external_id("x")
    assert caught.value.error_code == "011"


async def test_reads_are_retried_after_5xx(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 2, "failNextStatus": 503, "endpoints": ["customer.external.get"]},
    )
    assert await calypso.find_customers_by_external_id("retry-me") == []
    assert await counts(sandbox_control, "customer.external.get") == {"503": 2, "200": 1}


async def test_reads_give_up_after_the_configured_attempts(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 10, "failNextStatus": 500, "endpoints": ["customer.external.get"]},
    )
    with pytest.raises(CalypsoUnavailable) as caught:
        await calypso.find_customers_by_external_id("never")
    assert caught.value.status == 500
    assert caught.value.error_code == "000"
    assert await counts(sandbox_control, "customer.external.get") == {"500": FAST_RETRY.attempts}


async def test_writes_are_not_retried(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    customer_id = uuid.UUID((await calypso.create_customer(models.CustomerCreate())).id)
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 502, "endpoints": ["customer.block"]},
    )
    with pytest.raises(CalypsoUnavailable):
        await calypso.block_customer(customer_id)
    assert await counts(sandbox_control, "customer.block") == {"502": 1}


async def test_a_create_without_external_id_is_never_retried(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 500, "endpoints": ["customer.create"]},
    )
    with pytest.raises(CalypsoUnavailable):
        await calypso.create_customer(models.CustomerCreate(description="no external id"))
    assert await counts(sandbox_control, "customer.create") == {"500": 1}


async def test_a_create_whose_answer_was_lost_is_found_by_external_id_not_duplicated(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={
            "failNext": 1,
            "failNextStatus": 502,
            "failAfterProcessing": True,
            "endpoints": ["customer.create"],
        },
    )
    customer = await calypso.create_customer(models.CustomerCreate(externalId="lost-answer"))
    found = await calypso.find_customers_by_external_id("lost-answer")
    assert [c.id for c in found] == [customer.id]
    assert await counts(sandbox_control, "customer.create") == {"502": 1}


async def test_a_create_that_failed_before_landing_is_retried_once_lookup_is_empty(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 503, "endpoints": ["customer.create"]},
    )
    customer = await calypso.create_customer(models.CustomerCreate(externalId="retry-create"))
    assert [c.id for c in await calypso.find_customers_by_external_id("retry-create")] == [
        customer.id
    ]
    assert await counts(sandbox_control, "customer.create") == {"503": 1, "200": 1}


async def test_429_is_retried_after_the_retry_after_delay(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 429, "endpoints": ["customer.external.get"]},
    )
    assert await calypso.find_customers_by_external_id("slow-down") == []
    assert await counts(sandbox_control, "customer.external.get") == {"429": 1, "200": 1}


async def test_a_write_that_is_rate_limited_raises_rate_limited(
    calypso: CalypsoClient, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put(
        "/sandbox/faults",
        json={"rateLimitRate": 1.0, "retryAfterSeconds": 7, "endpoints": ["customer.create"]},
    )
    with pytest.raises(CalypsoRateLimited) as caught:
        await calypso.create_customer(models.CustomerCreate())
    assert caught.value.retry_after == 7


async def test_a_hanging_upstream_times_out(
    sandbox: RunningServer, sandbox_control: httpx.AsyncClient
) -> None:
    await sandbox_control.put("/sandbox/faults", json={"timeoutRate": 1.0, "hangSeconds": 5})
    async with calypso_client(sandbox.url, timeout=0.3, retry=RetryPolicy.never()) as impatient:
        with pytest.raises(CalypsoTimeout):
            await impatient.find_customers_by_external_id("x")


async def test_an_unreachable_upstream_is_unavailable_after_retries() -> None:
    async with calypso_client("http://127.0.0.1:9") as nowhere:
        with pytest.raises(CalypsoUnavailable, match="transport error"):
            await nowhere.find_customers_by_external_id("x")


async def test_the_signature_covers_the_exact_bytes_sent(sandbox: RunningServer) -> None:
    sent: list[httpx.Request] = []

    async def remember(request: httpx.Request) -> None:
        sent.append(request)

    http = httpx.AsyncClient(event_hooks={"request": [remember]})
    async with calypso_client(sandbox.url, http=http) as client:
        await client.find_customers_by_external_id("bytes")
    from bridge.calypso.signing import verify

    (request,) = sent
    assert request.headers["Key"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert verify(request.content, API_SECRET, request.headers["Sign"])
    assert request.headers["Sign"] == request.headers["Sign"].lower()
