"""Deposit addresses look like their network's own, and one address serves a whole network.

The checksums are verified by small decoders written here from the specifications (BIP 173
for bech32, base58check as Bitcoin defines it), independent of the sandbox's encoders.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from bridge.sandbox.addresses import base58check_encode, bech32_segwit_v0
from bridge.sandbox.state import SandboxState
from tests.sandbox.wire import ok

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


# --- independent decoders ---------------------------------------------------------------------


def bech32_decode(address: str) -> tuple[str, int, bytes]:
    """(hrp, witness version, program) of a valid bech32 segwit address; raises otherwise."""
    hrp, _, data_part = address.rpartition("1")
    values = [BECH32_CHARSET.index(c) for c in data_part]
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    if checksum != 1:
        raise ValueError(f"bad bech32 checksum in {address}")
    version, groups = values[0], values[1:-6]
    bits = "".join(f"{g:05b}" for g in groups)
    usable = len(bits) - len(bits) % 8
    if bits[usable:].strip("0"):
        raise ValueError("non-zero padding")
    program = bytes(int(bits[i : i + 8], 2) for i in range(0, usable, 8))
    return hrp, version, program


def base58check_decode(address: str) -> bytes:
    """The versioned payload of a valid base58check string; raises on a bad checksum."""
    number = 0
    for char in address:
        number = number * 58 + BASE58_ALPHABET.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(address) - len(address.lstrip("1"))) + raw
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValueError(f"bad base58check checksum in {address}")
    return payload


def test_the_decoders_accept_known_good_addresses_and_reject_a_typo() -> None:
    bip173 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    satoshi = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"

    assert bech32_decode(bip173) == (
        "bc",
        0,
        bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"),
    )
    assert base58check_decode(satoshi)[0] == 0
    with pytest.raises(ValueError, match="checksum"):
        bech32_decode(bip173[:-1] + "5")
    with pytest.raises(ValueError, match="checksum"):
        base58check_decode(satoshi[:-1] + "b")


def test_the_sandbox_encoders_reproduce_published_vectors() -> None:
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")

    assert bech32_segwit_v0("bc", program) == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    # Tron's well-known all-zero "black hole" address.
    assert base58check_encode(b"\x41" + bytes(20)) == "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"
    assert base58check_encode(b"\x00" + bytes(20)) == "1111111111111111111114oLvT2"


# --- through the API --------------------------------------------------------------------------


async def purse_for(client: httpx.AsyncClient, currency: str) -> dict[str, Any]:
    customer = await ok(client, "customer/create", {})
    purse: dict[str, Any] = await ok(
        client, "address/get", {"customerId": customer["id"], "currency": currency}
    )
    return purse


@pytest.mark.parametrize(("currency", "hrp"), [("BTC", "bc"), ("LTC", "ltc")])
async def test_bitcoin_like_addresses_are_p2wpkh_bech32_with_a_valid_checksum(
    client: httpx.AsyncClient, currency: str, hrp: str
) -> None:
    address = (await purse_for(client, currency))["address"]

    decoded_hrp, version, program = bech32_decode(address)

    assert address.startswith(f"{hrp}1q")
    assert (decoded_hrp, version, len(program)) == (hrp, 0, 20)


@pytest.mark.parametrize(
    ("currency", "version", "prefix"),
    [("TRX", 0x41, "T"), ("USDT_TRC20", 0x41, "T"), ("DOGE", 0x1E, "D")],
)
async def test_tron_and_dogecoin_addresses_are_base58check_with_their_version_byte(
    client: httpx.AsyncClient, currency: str, version: int, prefix: str
) -> None:
    address = (await purse_for(client, currency))["address"]

    payload = base58check_decode(address)

    assert address.startswith(prefix)
    assert len(address) == 34
    assert (payload[0], len(payload)) == (version, 21)


@pytest.mark.parametrize("currency", ["ETH", "USDT_ERC20", "USDC_ERC20"])
async def test_ethereum_addresses_are_0x_and_40_hex_digits(
    client: httpx.AsyncClient, currency: str
) -> None:
    address = (await purse_for(client, currency))["address"]

    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", address)


async def test_one_purse_serves_every_currency_of_its_network(client: httpx.AsyncClient) -> None:
    customer = await ok(client, "customer/create", {})
    by_currency = {
        currency: await ok(
            client, "address/get", {"customerId": customer["id"], "currency": currency}
        )
        for currency in ("ETH", "USDT_ERC20", "USDC_ERC20", "TRX", "USDT_TRC20")
    }

    assert by_currency["ETH"] == by_currency["USDT_ERC20"] == by_currency["USDC_ERC20"]
    assert by_currency["TRX"] == by_currency["USDT_TRC20"]
    assert set(by_currency["ETH"]["currencies"]) == {"ETH", "USDT_ERC20", "USDC_ERC20"}
    assert set(by_currency["TRX"]["currencies"]) == {"TRX", "USDT_TRC20"}
    purses = await ok(client, "purse/get-all", {"customerId": customer["id"]})
    assert len(purses["purses"]) == 2


async def test_every_purse_gets_its_own_address(client: httpx.AsyncClient) -> None:
    addresses = [(await purse_for(client, "BTC"))["address"] for _ in range(20)]

    assert len(set(addresses)) == 20


async def test_purse_created_date_is_rfc3339_utc(client: httpx.AsyncClient) -> None:
    created = (await purse_for(client, "DOGE"))["createdDate"]

    assert created.endswith("Z")
    assert datetime.fromisoformat(created).utcoffset() is not None


@pytest.mark.parametrize(
    ("currency", "hash_pattern", "is_sender"),
    [
        ("BTC", r"[0-9a-f]{64}", lambda a: bech32_decode(a)[:2] == ("bc", 0)),
        ("ETH", r"0x[0-9a-f]{64}", lambda a: re.fullmatch(r"0x[0-9a-f]{40}", a)),
        ("USDT_TRC20", r"[0-9a-f]{64}", lambda a: base58check_decode(a)[0] == 0x41),
        ("DOGE", r"[0-9a-f]{64}", lambda a: base58check_decode(a)[0] == 0x1E),
    ],
)
async def test_generated_senders_and_hashes_look_like_their_network(
    client: httpx.AsyncClient,
    currency: str,
    hash_pattern: str,
    is_sender: Callable[[str], object],
) -> None:
    purse = await purse_for(client, currency)
    response = await client.post(
        "/sandbox/deposits", json={"address": purse["address"], "currency": currency, "amount": "1"}
    )
    transaction = response.json()

    assert re.fullmatch(hash_pattern, transaction["transactionHash"])
    assert is_sender(transaction["addressFrom"])


def test_a_seeded_sandbox_mints_the_same_addresses_every_run() -> None:
    def first_addresses(seed: int) -> list[str]:
        state = SandboxState(seed=seed)
        customer = state.create_customer(email=None, description=None, external_id=None)
        return [state.purse_for(customer.id, c).address for c in ("BTC", "ETH", "TRX")]

    assert first_addresses(3) == first_addresses(3)
    assert first_addresses(3) != first_addresses(4)
