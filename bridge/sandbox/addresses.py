"""Currencies, their networks, and addresses and hashes that look like each network's own.

A purse's address serves every currency of its network (USDT_ERC20 arrives at the same
``0x`` address as ETH), so the network, not the currency, decides the address format.
Formats are real enough for a validating client to accept them: bech32 with its checksum for
Bitcoin and Litecoin, base58check with its version byte for Tron and Dogecoin. Ethereum
addresses are lowercase hex: the standard library has no keccak to compute EIP-55 casing,
and lowercase is valid on that network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "CURRENCIES",
    "Currency",
    "Network",
    "address_for",
    "base58check_encode",
    "bech32_segwit_v0",
    "currencies_of",
    "transaction_hash_for",
]

RandomBytes = Callable[[int], bytes]


class Network(StrEnum):
    BITCOIN = "bitcoin"
    LITECOIN = "litecoin"
    ETHEREUM = "ethereum"
    TRON = "tron"
    DOGECOIN = "dogecoin"


@dataclass(frozen=True, slots=True)
class Currency:
    ticker: str
    network: Network
    decimals: int


CURRENCIES: MappingProxyType[str, Currency] = MappingProxyType(
    {
        currency.ticker: currency
        for currency in (
            Currency("BTC", Network.BITCOIN, 8),
            Currency("LTC", Network.LITECOIN, 8),
            Currency("ETH", Network.ETHEREUM, 18),
            Currency("USDT_ERC20", Network.ETHEREUM, 6),
            Currency("USDC_ERC20", Network.ETHEREUM, 6),
            Currency("TRX", Network.TRON, 6),
            Currency("USDT_TRC20", Network.TRON, 6),
            Currency("DOGE", Network.DOGECOIN, 8),
        )
    }
)


def currencies_of(network: Network) -> list[str]:
    return [c.ticker for c in CURRENCIES.values() if c.network is network]


def address_for(network: Network, random_bytes: RandomBytes) -> str:
    """A fresh address of ``network`` built on a random 20-byte key hash."""
    key_hash = random_bytes(20)
    if network is Network.BITCOIN:
        return bech32_segwit_v0("bc", key_hash)
    if network is Network.LITECOIN:
        return bech32_segwit_v0("ltc", key_hash)
    if network is Network.ETHEREUM:
        return "0x" + key_hash.hex()
    if network is Network.TRON:
        return base58check_encode(b"\x41" + key_hash)
    return base58check_encode(b"\x1e" + key_hash)


def transaction_hash_for(network: Network, random_bytes: RandomBytes) -> str:
    digest = random_bytes(32).hex()
    return "0x" + digest if network is Network.ETHEREUM else digest


# --- bech32 (BIP 173) -------------------------------------------------------------------------

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: Iterable[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_BECH32_GENERATOR):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_five_bit_groups(data: bytes) -> list[int]:
    accumulator, bits, groups = 0, 0, []
    for byte in data:
        accumulator = (accumulator << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            groups.append((accumulator >> bits) & 31)
    if bits:
        groups.append((accumulator << (5 - bits)) & 31)
    return groups


def bech32_segwit_v0(hrp: str, program: bytes) -> str:
    """P2WPKH address: witness version 0 (``q``) then the program, with the bech32 checksum."""
    data = [0, *_to_five_bit_groups(program)]
    polymod = _bech32_polymod([*_bech32_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


# --- base58check ------------------------------------------------------------------------------

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check_encode(versioned_payload: bytes) -> str:
    """Base58 of the payload and the first 4 bytes of its double SHA-256."""
    checksum = hashlib.sha256(hashlib.sha256(versioned_payload).digest()).digest()[:4]
    data = versioned_payload + checksum
    number = int.from_bytes(data, "big")
    encoded = ""
    while number:
        number, digit = divmod(number, 58)
        encoded = _BASE58_ALPHABET[digit] + encoded
    # Each leading zero byte is spelled as a leading "1": base58 would otherwise drop it.
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + encoded
