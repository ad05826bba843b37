"""The sandbox behaves like Calypso's Customer Purse API, and its controls drive it.

Everything goes over a real socket: envelopes are built and signed here by hand, so these
tests check the wire contract, not the sandbox's own helpers.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bridge.sandbox.state import SandboxState
from tests.sandbox.wire import (
    ACCOUNT,
    API_KEY,
    BASE,
    ETH_AMOUNT,
    advance,
    assert_calypso_error,
    call,
    deposit,
    envelope,
    eth_deposit,
    new_customer,
    new_purse,
    now_ms,
    ok,
    search,
    send,
    signature,
)
from tests.support.sandbox_server import RunningServer


async def test_customer_create_returns_a_new_unblocked_customer_with_the_given_fields(
    client: httpx.AsyncClient,
) -> None:
    customer = await new_customer(
        client, email="ada@example.com", description="VIP", externalId="shop-1"
    )

    assert uuid.UUID(customer["id"]).version == 4
    assert customer == {
        "id": customer["id"],
        "blocked": False,
        "email": "ada@example.com",
        "description": "VIP",
        "externalId": "shop-1",
    }


async def test_customer_create_omits_absent_optional_fields(client: httpx.AsyncClient) -> None:
    customer = await new_customer(client)

    assert set(customer) == {"id", "blocked"}


async def test_customer_get_returns_the_stored_customer(client: httpx.AsyncClient) -> None:
    created = await new_customer(client, email="bob@example.com")

    fetched = await ok(client, "customer/get", {"customerId": created["id"]})

    assert fetched == created


async def test_customer_update_changes_given_fields_and_leaves_absent_ones(
    client: httpx.AsyncClient,
) -> None:
    created = await new_customer(client, email="old@example.com", description="before")

    updated = await ok(client, "customer/update", {"id": created["id"], "description": "after"})

    assert updated["email"] == "old@example.com"
    assert updated["description"] == "after"
    assert await ok(client, "customer/get", {"customerId": created["id"]}) == updated


async def test_customer_block_and_unblock_flip_the_flag_and_are_idempotent(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]

    for _ in range(2):
        assert (await ok(client, "customer/block", {"customerId": customer_id}))["blocked"]
    assert (await ok(client, "customer/get", {"customerId": customer_id}))["blocked"]
    for _ in range(2):
        unblocked = await ok(client, "customer/unblock", {"customerId": customer_id})
        assert unblocked["blocked"] is False


async def test_customer_external_get_lists_every_customer_sharing_the_external_id(
    client: httpx.AsyncClient,
) -> None:
    first = await new_customer(client, externalId="dup")
    second = await new_customer(client, externalId="dup")
    await new_customer(client, externalId="other")

    found = await ok(client, "customer/external/get", {"externalId": "dup"})

    assert found == {"customers": [first, second]}


async def test_customer_external_get_answers_an_empty_list_when_nobody_matches(
    client: httpx.AsyncClient,
) -> None:
    assert await ok(client, "customer/external/get", {"externalId": "nobody"}) == {"customers": []}


async def test_address_get_creates_a_purse_once_and_then_returns_it(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]

    first = await new_purse(client, customer_id, "BTC")
    again = await new_purse(client, customer_id, "BTC")

    assert first == again
    assert set(first) == {"id", "address", "currencies", "createdDate"}
    assert first["currencies"] == ["BTC"]


async def test_address_get_refuses_an_unsupported_currency_with_001(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]

    response = await call(client, "address/get", {"customerId": customer_id, "currency": "XRP"})

    assert "XRP" in assert_calypso_error(response, "001")


async def test_address_get_refuses_a_blocked_customer_with_001(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    await ok(client, "customer/block", {"customerId": customer_id})

    response = await call(client, "address/get", {"customerId": customer_id, "currency": "ETH"})

    assert assert_calypso_error(response, "001") == "customer is blocked"


async def test_purse_get_all_lists_each_purse_of_the_customer(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    other_id = (await new_customer(client))["id"]
    eth = await new_purse(client, customer_id, "ETH")
    trx = await new_purse(client, customer_id, "TRX")
    await new_purse(client, other_id, "ETH")

    assert await ok(client, "purse/get-all", {"customerId": customer_id}) == {"purses": [eth, trx]}


async def test_purse_get_all_is_empty_for_a_customer_without_purses(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]

    assert await ok(client, "purse/get-all", {"customerId": customer_id}) == {"purses": []}


async def test_transaction_get_returns_the_deposited_transaction(
    client: httpx.AsyncClient,
) -> None:
    deposited = await eth_deposit(client)

    fetched = await ok(client, "transaction/get", {"transactionId": deposited["id"]})

    assert fetched == {
        "id": deposited["id"],
        "amount": Decimal(ETH_AMOUNT),
        "addressFrom": deposited["addressFrom"],
        "currency": "ETH",
        "transactionHash": deposited["transactionHash"],
        "transactionState": "MEM_POOL_FOUND",
        "complianceState": "UNCHECKED",
        "translationToAccountCompleted": False,
        "createdDate": deposited["createdDate"],
    }


async def test_an_18_decimal_eth_amount_comes_back_as_that_exact_json_number(
    client: httpx.AsyncClient,
) -> None:
    deposited = await eth_deposit(client)

    response = await call(client, "transaction/get", {"transactionId": deposited["id"]})

    assert b'"amount":0.123456789012345678,' in response.content
    assert deposited["amount"] == ETH_AMOUNT


async def test_transaction_find_returns_a_page_of_the_customers_transactions(
    client: httpx.AsyncClient,
) -> None:
    first = await eth_deposit(client)
    customer_id = first["customerId"]
    second = await deposit(client, customerId=customer_id, currency="USDT_ERC20", amount="12.5")
    await eth_deposit(client)  # another customer's

    page = await ok(client, "transaction/find", search(customer_id))

    assert [t["id"] for t in page["result"]] == [first["id"], second["id"]]
    assert (page["page"], page["size"], page["total"], page["totalElements"]) == (1, 10, 1, 2)


# --- authentication and the timestamp window --------------------------------------------------


async def test_a_wrong_key_is_rejected_with_002(client: httpx.AsyncClient) -> None:
    response = await send(client, "customer/create", envelope({}), key="someone-else")

    assert_calypso_error(response, "002")


async def test_a_missing_key_is_rejected_with_002(client: httpx.AsyncClient) -> None:
    response = await send(client, "customer/create", envelope({}), key=None)

    assert_calypso_error(response, "002")


async def test_an_account_other_than_the_keys_is_rejected_with_002(
    client: httpx.AsyncClient,
) -> None:
    response = await send(client, "customer/create", envelope({}, account="0x" + "ee" * 20))

    assert assert_calypso_error(response, "002") == "account does not match the api key"


@pytest.mark.parametrize(
    "sign",
    [
        pytest.param(signature(b"a different body"), id="signature-of-other-bytes"),
        pytest.param("not-hex", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
async def test_a_wrong_sign_is_rejected_with_003(client: httpx.AsyncClient, sign: str) -> None:
    body = envelope({})
    headers = {"Key": API_KEY, "Content-Type": "application/json"}
    if sign:
        headers["Sign"] = sign

    response = await client.post(BASE + "customer/create", content=body, headers=headers)

    assert_calypso_error(response, "003")


async def test_a_sign_made_with_another_secret_is_rejected_with_003(
    client: httpx.AsyncClient,
) -> None:
    body = envelope({})

    response = await send(client, "customer/create", body, sign=signature(body, "wrong-secret"))

    assert_calypso_error(response, "003")


async def test_the_sign_covers_the_exact_body_bytes_not_the_json_they_parse_to(
    client: httpx.AsyncClient,
) -> None:
    body = envelope({})
    reformatted = json.dumps(json.loads(body), indent=2).encode()

    response = await send(client, "customer/create", reformatted, sign=signature(body))

    assert_calypso_error(response, "003")


@pytest.mark.parametrize("offset_ms", [-240_000, 240_000], ids=["4-min-old", "4-min-ahead"])
async def test_a_timestamp_beyond_three_minutes_is_rejected_with_011(
    client: httpx.AsyncClient, offset_ms: int
) -> None:
    body = envelope({}, timestamp=now_ms() + offset_ms)

    assert_calypso_error(await send(client, "customer/create", body), "011")


@pytest.mark.parametrize("offset_ms", [-150_000, 150_000], ids=["2.5-min-old", "2.5-min-ahead"])
async def test_a_timestamp_within_three_minutes_is_accepted(
    client: httpx.AsyncClient, offset_ms: int
) -> None:
    body = envelope({}, timestamp=now_ms() + offset_ms)

    assert (await send(client, "customer/create", body)).status_code == 200


# --- validation, not found, and the error shape -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "message_part"),
    [
        pytest.param(
            "customer/create",
            envelope({}, account="0x123"),
            "$.account",
            id="bad-account-pattern",
        ),
        pytest.param(
            "customer/get",
            envelope({"customerId": "not-a-uuid"}),
            "$.payload.customerId",
            id="non-uuid-customer-id",
        ),
        pytest.param(
            "customer/create",
            envelope({"description": "x" * 1001}),
            "length <= 1000 - at `$.payload.description`",
            id="description-of-1001-chars",
        ),
        pytest.param(
            "customer/create",
            envelope({"externalId": "x" * 256}),
            "length <= 255 - at `$.payload.externalId`",
            id="external-id-of-256-chars",
        ),
        pytest.param(
            "address/get",
            envelope({"customerId": str(uuid.uuid4())}),
            "missing required field `currency`",
            id="missing-required-payload-field",
        ),
        pytest.param(
            "customer/create",
            json.dumps({"account": ACCOUNT, "payload": {}}).encode(),
            "missing required field `timestamp`",
            id="missing-timestamp",
        ),
        pytest.param("customer/create", b'{"account": ]}', "malformed", id="malformed-json"),
        pytest.param("customer/create", b"", "truncated", id="empty-body"),
    ],
)
async def test_a_request_breaking_the_spec_is_rejected_with_001_naming_the_problem(
    client: httpx.AsyncClient, path: str, body: bytes, message_part: str
) -> None:
    response = await send(client, path, body)

    assert message_part in assert_calypso_error(response, "001")


async def test_a_description_of_exactly_1000_chars_is_accepted(client: httpx.AsyncClient) -> None:
    customer = await new_customer(client, description="x" * 1000)

    assert len(customer["description"]) == 1000


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("customer/get", {"customerId": "{id}"}),
        ("customer/update", {"id": "{id}", "email": "x@example.com"}),
        ("customer/block", {"customerId": "{id}"}),
        ("customer/unblock", {"customerId": "{id}"}),
        ("address/get", {"customerId": "{id}", "currency": "ETH"}),
        ("purse/get-all", {"customerId": "{id}"}),
        ("transaction/get", {"transactionId": "{id}"}),
        ("transaction/find", search("{id}")),
    ],
)
async def test_an_unknown_object_is_rejected_with_004(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any]
) -> None:
    unknown = str(uuid.uuid4())
    filled = {k: unknown if v == "{id}" else v for k, v in payload.items()}

    message = assert_calypso_error(await call(client, path, filled), "004")

    assert "not found" in message


async def test_each_error_carries_a_fresh_trace_id(client: httpx.AsyncClient) -> None:
    bodies = [
        (await send(client, "customer/create", envelope({}), key="x")).json() for _ in range(2)
    ]

    assert bodies[0]["traceId"] != bodies[1]["traceId"]


async def test_wrong_method_and_unknown_paths_still_answer_calypso_error_documents(
    client: httpx.AsyncClient,
) -> None:
    wrong_method = await client.get(BASE + "customer/get")
    unknown_path = await client.post(BASE + "customer/delete", content=envelope({}))

    assert_calypso_error(wrong_method, "001")
    assert_calypso_error(unknown_path, "001")


async def test_the_app_keeps_its_state_on_app_state_sandbox(
    client: httpx.AsyncClient, running_sandbox: RunningServer
) -> None:
    customer_id = (await new_customer(client))["id"]

    state = running_sandbox.app.state.sandbox
    assert isinstance(state, SandboxState)
    assert uuid.UUID(customer_id) in state.customers


# --- transaction/find: paging, sorting, filters -----------------------------------------------


async def five_transactions(client: httpx.AsyncClient) -> tuple[str, list[dict[str, Any]]]:
    """ETH, USDT_ERC20, USDC_ERC20, ETH, USDT_ERC20 in creation order, in several states."""
    customer_id = (await new_customer(client))["id"]
    await new_purse(client, customer_id, "ETH")
    made = []
    for currency, amount, state in [
        ("ETH", "1.5", "MEM_POOL_FOUND"),
        ("USDT_ERC20", "20", "PENDING_COMPLIANCE_CHECK"),
        ("USDC_ERC20", "1.5", "CONFIRMED"),
        ("ETH", "0.25", "DECLINED"),
        ("USDT_ERC20", "300", "CONFIRMED"),
    ]:
        made.append(
            await deposit(
                client,
                customerId=customer_id,
                currency=currency,
                amount=amount,
                transactionState=state,
            )
        )
    return customer_id, made


async def test_find_pages_newest_first_and_counts_pages_and_elements(
    client: httpx.AsyncClient,
) -> None:
    customer_id, made = await five_transactions(client)
    newest_first = [t["id"] for t in reversed(made)]

    pages = [
        await ok(
            client, "transaction/find", search(customer_id, sort="DESC", pageSize=2, pageNumber=n)
        )
        for n in (1, 2, 3, 4)
    ]

    assert [[t["id"] for t in p["result"]] for p in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
        [],
    ]
    assert {(p["size"], p["total"], p["totalElements"]) for p in pages} == {(2, 3, 5)}
    assert [p["page"] for p in pages] == [1, 2, 3, 4]


async def test_find_sorts_by_the_named_field_with_ties_broken_by_id(
    client: httpx.AsyncClient,
) -> None:
    customer_id, made = await five_transactions(client)
    tied = sorted(t["id"] for t in made if t["amount"] == "1.5")

    page = await ok(client, "transaction/find", search(customer_id, properties="amount"))

    assert [t["id"] for t in page["result"]] == [
        made[3]["id"],
        *tied,
        made[1]["id"],
        made[4]["id"],
    ]


async def test_find_created_dates_increase_strictly_in_creation_order(
    client: httpx.AsyncClient,
) -> None:
    customer_id, made = await five_transactions(client)

    page = await ok(client, "transaction/find", search(customer_id))

    dates = [t["createdDate"] for t in page["result"]]
    assert [t["id"] for t in page["result"]] == [t["id"] for t in made]
    assert dates == sorted(set(dates))
    assert all(d.endswith("Z") for d in dates)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"equals": "ETH"}, [0, 3]),
        ({"notEquals": "ETH"}, [1, 2, 4]),
        ({"in": ["USDC_ERC20", "ETH"]}, [0, 2, 3]),
        ({"notIn": ["USDT_ERC20", "ETH"]}, [2]),
        ({"contains": "erc20"}, [1, 2, 4]),
        ({"doesNotContain": "USDT"}, [0, 2, 3]),
        ({"specified": True}, [0, 1, 2, 3, 4]),
        ({"specified": False}, []),
        ({"contains": "US", "notEquals": "USDC_ERC20"}, [1, 4]),
    ],
)
async def test_find_filters_by_currency_criteria(
    client: httpx.AsyncClient, criteria: dict[str, Any], expected: list[int]
) -> None:
    customer_id, made = await five_transactions(client)

    page = await ok(client, "transaction/find", search(customer_id, currencyFilter=criteria))

    assert [t["id"] for t in page["result"]] == [made[i]["id"] for i in expected]
    assert page["totalElements"] == len(expected)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"equals": "CONFIRMED"}, [2, 4]),
        ({"notEquals": "CONFIRMED"}, [0, 1, 3]),
        ({"in": ["MEM_POOL_FOUND", "DECLINED"]}, [0, 3]),
        ({"notIn": ["CONFIRMED", "DECLINED"]}, [0, 1]),
        ({"specified": True}, [0, 1, 2, 3, 4]),
    ],
)
async def test_find_filters_by_transaction_state_criteria(
    client: httpx.AsyncClient, criteria: dict[str, Any], expected: list[int]
) -> None:
    customer_id, made = await five_transactions(client)

    page = await ok(
        client, "transaction/find", search(customer_id, transactionStateFilter=criteria)
    )

    assert [t["id"] for t in page["result"]] == [made[i]["id"] for i in expected]


@pytest.mark.parametrize(
    "overrides",
    [
        {"pageNumber": 0},
        {"pageSize": 0},
        {"pageSize": 1001},
        {"properties": "colour"},
        {"sort": "SIDEWAYS"},
        {"transactionStateFilter": {"equals": "LOST"}},
    ],
)
async def test_find_rejects_bad_paging_sorting_or_filters_with_001(
    client: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    customer_id = (await new_customer(client))["id"]

    response = await call(client, "transaction/find", search(customer_id, **overrides))

    assert_calypso_error(response, "001")


# --- control endpoints: deposits and their lifecycle ------------------------------------------


async def test_a_deposit_walks_its_lifecycle_one_advance_at_a_time_then_409(
    client: httpx.AsyncClient,
) -> None:
    transaction = await eth_deposit(client)
    seen = [
        (
            transaction["transactionState"],
            transaction["complianceState"],
            transaction["translationToAccountCompleted"],
        )
    ]

    for _ in range(3):
        response = await advance(client, transaction["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        seen.append(
            (
                body["transactionState"],
                body["complianceState"],
                body["translationToAccountCompleted"],
            )
        )
    exhausted = await advance(client, transaction["id"])

    assert seen == [
        ("MEM_POOL_FOUND", "UNCHECKED", False),
        ("PENDING_COMPLIANCE_CHECK", "IN_PROGRESS", False),
        ("CONFIRMED", "CHECKED", False),
        ("CONFIRMED", "CHECKED", True),
    ]
    assert exhausted.status_code == 409
    assert "error" in exhausted.json()
    upstream = await ok(client, "transaction/get", {"transactionId": transaction["id"]})
    assert upstream["translationToAccountCompleted"] is True


async def test_a_declined_deposit_ends_declined_and_cannot_be_credited(
    client: httpx.AsyncClient,
) -> None:
    transaction = await eth_deposit(client)
    await advance(client, transaction["id"])

    declined = (await advance(client, transaction["id"], decline=True)).json()
    after = await advance(client, transaction["id"])
    credit = await client.patch(
        f"/sandbox/transactions/{transaction['id']}", json={"translationToAccountCompleted": True}
    )

    assert (declined["transactionState"], declined["complianceState"]) == ("DECLINED", "DECLINE")
    assert after.status_code == 409
    assert credit.status_code == 409


async def test_decline_before_the_compliance_check_is_refused_with_409(
    client: httpx.AsyncClient,
) -> None:
    transaction = await eth_deposit(client)

    assert (await advance(client, transaction["id"], decline=True)).status_code == 409


async def test_patch_changes_compliance_without_changing_the_state(
    client: httpx.AsyncClient,
) -> None:
    transaction = await eth_deposit(client)
    await advance(client, transaction["id"])

    response = await client.patch(
        f"/sandbox/transactions/{transaction['id']}", json={"complianceState": "CHECKED"}
    )

    assert response.status_code == 200
    upstream = await ok(client, "transaction/get", {"transactionId": transaction["id"]})
    assert upstream["transactionState"] == "PENDING_COMPLIANCE_CHECK"
    assert upstream["complianceState"] == "CHECKED"


async def test_patch_refuses_to_leave_a_final_state_with_409(client: httpx.AsyncClient) -> None:
    transaction = await eth_deposit(client)
    path = f"/sandbox/transactions/{transaction['id']}"
    await client.patch(path, json={"transactionState": "CONFIRMED"})

    response = await client.patch(path, json={"transactionState": "PENDING_COMPLIANCE_CHECK"})

    assert response.status_code == 409
    assert "final" in response.json()["error"]


async def test_patch_refuses_to_credit_an_unconfirmed_transaction_with_409(
    client: httpx.AsyncClient,
) -> None:
    transaction = await eth_deposit(client)

    response = await client.patch(
        f"/sandbox/transactions/{transaction['id']}", json={"translationToAccountCompleted": True}
    )

    assert response.status_code == 409


async def test_patch_can_confirm_and_credit_in_one_go(client: httpx.AsyncClient) -> None:
    transaction = await eth_deposit(client)

    response = await client.patch(
        f"/sandbox/transactions/{transaction['id']}",
        json={"transactionState": "CONFIRMED", "translationToAccountCompleted": True},
    )

    body = response.json()
    assert (body["transactionState"], body["translationToAccountCompleted"]) == ("CONFIRMED", True)


async def test_a_deposit_can_skip_the_mem_pool_state(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    await new_purse(client, customer_id, "BTC")

    transaction = await deposit(
        client,
        customerId=customer_id,
        currency="BTC",
        amount="0.5",
        transactionState="PENDING_COMPLIANCE_CHECK",
    )

    assert transaction["transactionState"] == "PENDING_COMPLIANCE_CHECK"
    assert transaction["complianceState"] == "IN_PROGRESS"


async def test_a_deposit_by_customer_and_currency_lands_in_that_networks_purse(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "TRX")

    transaction = await deposit(client, customerId=customer_id, currency="USDT_TRC20", amount="7")

    assert (transaction["purseId"], transaction["address"]) == (purse["id"], purse["address"])
    assert transaction["customerId"] == customer_id


async def test_a_deposit_keeps_the_given_sender_and_hash(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "ETH")
    sender, tx_hash = "0x" + "ab" * 20, "0x" + "cd" * 32

    transaction = await deposit(
        client,
        address=purse["address"],
        currency="ETH",
        amount="1",
        addressFrom=sender,
        transactionHash=tx_hash,
    )

    assert (transaction["addressFrom"], transaction["transactionHash"]) == (sender, tx_hash)


async def test_a_deposit_amount_sent_as_a_json_number_keeps_every_decimal(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "ETH")
    raw = f'{{"address": "{purse["address"]}", "currency": "ETH", "amount": {ETH_AMOUNT}}}'

    response = await client.post("/sandbox/deposits", content=raw.encode())

    assert response.status_code == 201
    assert response.json()["amount"] == ETH_AMOUNT


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("BTC", "0.123456789"),
        ("USDT_TRC20", "1.0000001"),
        ("ETH", "0.1234567890123456789"),
        ("BTC", "0"),
        ("BTC", "-1"),
        ("BTC", "NaN"),
        ("BTC", "lots"),
        ("ETH", "1"),
        ("DOGE", "1"),
    ],
)
async def test_a_deposit_refuses_amounts_beyond_the_currency_or_off_the_network_with_400(
    client: httpx.AsyncClient, currency: str, amount: str
) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "BTC")

    response = await client.post(
        "/sandbox/deposits",
        json={"address": purse["address"], "currency": currency, "amount": amount},
    )

    assert response.status_code == 400
    assert response.json()["error"]


async def test_a_deposit_accepts_trailing_zeros_within_the_currency_precision(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "BTC")

    transaction = await deposit(
        client, address=purse["address"], currency="BTC", amount="0.1000000000"
    )

    assert transaction["amount"] == "0.1000000000"


async def test_a_deposit_to_an_unknown_address_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sandbox/deposits", json={"address": "0x" + "00" * 20, "currency": "ETH", "amount": "1"}
    )

    assert response.status_code == 404


async def test_advancing_an_unknown_transaction_is_404(client: httpx.AsyncClient) -> None:
    assert (await advance(client, str(uuid.uuid4()))).status_code == 404


async def test_an_expired_purse_is_flagged_and_address_get_then_issues_a_new_one(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]
    old = await new_purse(client, customer_id, "LTC")

    response = await client.post(f"/sandbox/purses/{old['id']}/expire")
    new = await new_purse(client, customer_id, "LTC")

    assert response.status_code == 200
    assert response.json()["expired"] is True
    assert new["address"] != old["address"]
    purses = await ok(client, "purse/get-all", {"customerId": customer_id})
    assert [p["id"] for p in purses["purses"]] == [old["id"], new["id"]]


async def test_reset_forgets_customers_faults_and_counters(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    await client.put("/sandbox/faults", json={"latencyMs": 5})

    assert (await client.post("/sandbox/reset")).status_code == 204

    assert_calypso_error(await call(client, "customer/get", {"customerId": customer_id}), "004")
    assert (await client.get("/sandbox/faults")).json()["latencyMs"] == 0
    counters = (await client.get("/sandbox/counters")).json()
    assert counters["total"] == 1  # just the customer/get above


async def test_control_endpoint_errors_are_plain_error_objects(client: httpx.AsyncClient) -> None:
    bad_json = await client.post("/sandbox/deposits", content=b"{")
    unknown_field = await client.put("/sandbox/faults", json={"colour": "red"})

    assert bad_json.status_code == unknown_field.status_code == 400
    assert set(bad_json.json()) == set(unknown_field.json()) == {"error"}


# --- faults and counters ----------------------------------------------------------------------


async def test_fail_next_fails_exactly_that_many_requests_then_succeeds(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/sandbox/faults", json={"failNext": 2, "failNextStatus": 503})

    statuses = [(await call(client, "customer/create", {})).status_code for _ in range(4)]
    failed = await client.get("/sandbox/faults")

    assert statuses == [503, 503, 200, 200]
    assert failed.json()["failNext"] == 0


async def test_a_failure_after_processing_loses_the_answer_but_keeps_the_change(
    client: httpx.AsyncClient,
) -> None:
    await client.put(
        "/sandbox/faults",
        json={"failNext": 1, "failNextStatus": 502, "failAfterProcessing": True},
    )

    lost = await call(client, "customer/create", {"externalId": "lost-answer"})
    found = await ok(client, "customer/external/get", {"externalId": "lost-answer"})

    assert_calypso_error(lost, "000", status=502)
    assert len(found["customers"]) == 1


async def test_injected_5xx_answers_carry_calypsos_error_body_with_000(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/sandbox/faults", json={"errorRate": 1.0, "errorStatus": 502})

    response = await call(client, "customer/create", {})

    assert_calypso_error(response, "000", status=502)


async def test_rate_limiting_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    await client.put("/sandbox/faults", json={"rateLimitRate": 1.0, "retryAfterSeconds": 7})

    response = await call(client, "customer/create", {})

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


async def test_latency_is_added_before_answering(client: httpx.AsyncClient) -> None:
    await client.put("/sandbox/faults", json={"latencyMs": 300})

    started = time.monotonic()
    response = await call(client, "customer/create", {})

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_a_timeout_fault_hangs_past_the_clients_own_timeout(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/sandbox/faults", json={"timeoutRate": 1.0, "hangSeconds": 0.6})
    body = envelope({})

    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            BASE + "customer/create",
            content=body,
            headers={"Key": API_KEY, "Sign": signature(body)},
            timeout=0.2,
        )

    counters = (await client.get("/sandbox/counters")).json()
    assert counters["byEndpoint"]["customer.create"]["byStatus"] == {"504": 1}


async def test_faults_limited_to_some_endpoints_spare_the_others(
    client: httpx.AsyncClient,
) -> None:
    customer_id = (await new_customer(client))["id"]
    await client.put("/sandbox/faults", json={"errorRate": 1.0, "endpoints": ["customer.create"]})

    created = await call(client, "customer/create", {})
    fetched = await call(client, "customer/get", {"customerId": customer_id})

    assert (created.status_code, fetched.status_code) == (500, 200)


async def test_fault_settings_are_validated(client: httpx.AsyncClient) -> None:
    for body in (
        {"errorRate": 1.5},
        {"errorRate": 0.6, "timeoutRate": 0.6},
        {"endpoints": ["customer.delete"]},
        {"failNextStatus": 200},
    ):
        response = await client.put("/sandbox/faults", json=body)
        assert response.status_code == 400, body


async def test_faults_read_back_and_clear(client: httpx.AsyncClient) -> None:
    put = await client.put("/sandbox/faults", json={"errorRate": 0.25, "latencyMs": 10})
    read = await client.get("/sandbox/faults")
    cleared = await client.delete("/sandbox/faults")

    assert put.json() == read.json()
    assert read.json()["errorRate"] == 0.25
    assert cleared.status_code == 204
    assert (await client.get("/sandbox/faults")).json()["errorRate"] == 0.0


async def test_control_endpoints_are_never_faulted_nor_counted(client: httpx.AsyncClient) -> None:
    customer_id = (await new_customer(client))["id"]
    purse = await new_purse(client, customer_id, "ETH")
    await client.put("/sandbox/faults", json={"errorRate": 1.0})

    faulted = await call(client, "customer/get", {"customerId": customer_id})
    transaction = await deposit(client, address=purse["address"], currency="ETH", amount="1")
    advanced = await advance(client, transaction["id"])

    assert (faulted.status_code, advanced.status_code) == (500, 200)
    counters = (await client.get("/sandbox/counters")).json()
    assert counters["total"] == 3


async def test_counters_count_each_endpoint_by_final_status_including_injected_faults(
    client: httpx.AsyncClient,
) -> None:
    await new_customer(client)
    await send(client, "customer/create", envelope({}), key="wrong")
    await client.put("/sandbox/faults", json={"failNext": 1, "failNextStatus": 429})
    await call(client, "customer/create", {})
    await call(client, "purse/get-all", {"customerId": str(uuid.uuid4())})

    counters = (await client.get("/sandbox/counters")).json()

    assert counters["total"] == 4
    assert counters["byEndpoint"]["customer.create"] == {
        "total": 3,
        "byStatus": {"200": 1, "400": 1, "429": 1},
    }
    assert counters["byEndpoint"]["purse.get-all"] == {"total": 1, "byStatus": {"400": 1}}
    assert counters["byEndpoint"]["transaction.find"] == {"total": 0, "byStatus": {}}


async def test_deleting_counters_starts_them_again_from_zero(client: httpx.AsyncClient) -> None:
    await new_customer(client)

    assert (await client.delete("/sandbox/counters")).status_code == 204

    assert (await client.get("/sandbox/counters")).json()["total"] == 0
