"""Leases on queued work, and the lease token that says who holds one until when.

A leased queue is a sorted set of item → due time plus a hash of item → lease token.
Claiming an item gives it a token (``worker:expiry_ms``) and moves its due time to the
lease's expiry, so the item of a worker that died becomes due again by itself when the lease
runs out; ending a lease is allowed only with the token it was given. The poll schedule and
the delivery queues both work this way (scripts ``poll_claim`` and ``delivery_claim`` of
:mod:`bridge.store.scripts`).

The token is built and read in two places only: here for Python, and in
``bridge/store/lua/_lease.lua`` for the scripts (functions of the same names); a test
runs one against the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Lease", "make_token", "parse_claimed", "token_expiry_ms", "token_worker"]

# The worker id may itself contain ':' (host:pid:random), so the expiry follows the last one.
_EXPIRY = re.compile(r":([0-9]+)\Z")


def make_token(worker: str, expiry_ms: int) -> str:
    """The token of a lease held by ``worker`` until ``expiry_ms`` (unix ms)."""
    return f"{worker}:{expiry_ms}"


def token_expiry_ms(token: str) -> int:
    """When the lease of ``token`` runs out (unix ms); 0 for a token without an expiry."""
    found = _EXPIRY.search(token)
    return int(found[1]) if found else 0


def token_worker(token: str) -> str:
    """Who holds the lease of ``token``: everything before its expiry."""
    found = _EXPIRY.search(token)
    return token[: found.start()] if found else token


@dataclass(frozen=True, slots=True)
class Lease:
    item: str
    token: str
    due_ms: float

    @property
    def expiry_ms(self) -> int:
        return token_expiry_ms(self.token)

    @property
    def worker(self) -> str:
        return token_worker(self.token)


def parse_claimed(flat: list[bytes]) -> list[Lease]:
    return [
        Lease(flat[i].decode(), flat[i + 1].decode(), float(flat[i + 2]))
        for i in range(0, len(flat), 3)
    ]
