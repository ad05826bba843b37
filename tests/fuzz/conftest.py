"""A running bridge to fuzz: real Redis, a sandbox of its own, a few real resources.

The bridge and its sandbox serve on 127.0.0.1 in background threads for the whole module, so
every generated request crosses real sockets twice (client → bridge → sandbox), as in
production. The sandbox is private to the fuzzing: the thousands of customers it creates never
turn up in another test's searches, and they vanish with it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis
import requests

from bridge.api.app import create_app
from bridge.delivery import ssrf
from bridge.sandbox.app import SandboxConfig, create_sandbox_app
from tests.support.config import ACCOUNT, API_KEY, API_SECRET, FAST_RETRY, TOKEN, make_settings
from tests.support.sandbox_server import serve_in_thread

__all__ = [
    "INBOUND_SECRET",
    "SEEDS",
    "SEED_EXTERNAL_ID",
    "SEED_HOOK_URL",
    "FuzzTarget",
    "Seeds",
]

INBOUND_SECRET = "fuzz-inbound-secret"
SEED_EXTERNAL_ID = "fuzz-seed-customer"
# The discard port on loopback, allowed explicitly below: whatever is subscribed to it, nothing
# would leave 127.0.0.1 (and the API process delivers nothing itself).
SEED_HOOK_URL = "http://127.0.0.1:9/hooks"
SPARE_SUBSCRIPTIONS = 4
# Operations whose success needs more than real ids: a signature the generator cannot make.
NO_SUCCESS_EXPECTED = frozenset({"POST /v1/calypso/webhooks"})


@dataclass
class Seeds:
    """Ids of real resources, so that some generated requests get past 404 to the real work."""

    customer_id: str = ""
    transaction_id: str = ""
    subscription_id: str = ""
    event_id: str = ""
    # DELETE spends these, so the subscription the other operations use stays.
    disposable_subscription_ids: list[str] = field(default_factory=list)


# Schemathesis hooks are registered at import, before any fixture runs: they read the ids from
# here, and the fixture fills it in once the resources exist.
SEEDS = Seeds()


@dataclass(frozen=True)
class FuzzTarget:
    url: str
    # For schemathesis; no proxy from the environment may come between it and 127.0.0.1.
    session: requests.Session
    # (operation, status) → how many generated requests got that answer.
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)

    def count(self, operation: str, status: int) -> None:
        self.answers[(operation, status)] += 1

    def operations_never_successful(self) -> list[str]:
        operations = {operation for operation, _ in self.answers}
        succeeded = {operation for operation, status in self.answers if 200 <= status < 300}
        return sorted(operations - succeeded - NO_SUCCESS_EXPECTED)


async def _resolve_nothing(url: str, host: str, port: int) -> list[ssrf.Address]:
    """Subscribe-time name resolution, offline: only ``localhost`` resolves.

    The real resolver would send a DNS query for every host name fuzzing invents; this gives
    the answer an offline resolver gives (the policy's own "does not resolve") with no traffic.
    """
    if host == "localhost":
        return [ipaddress.ip_address("127.0.0.1")]
    raise ssrf.UrlRefused(url, f"{host} does not resolve")


def _seed(bridge: httpx.Client, sandbox_url: str) -> None:
    """A customer with an ETH address and a deposit, subscriptions, and an event."""
    customer = bridge.post("/v1/customers", json={"externalId": SEED_EXTERNAL_ID})
    customer.raise_for_status()
    SEEDS.customer_id = customer.json()["id"]
    purse = bridge.post(f"/v1/customers/{SEEDS.customer_id}/addresses", json={"currency": "ETH"})
    purse.raise_for_status()
    deposit = httpx.post(
        f"{sandbox_url}/sandbox/deposits",
        json={"address": purse.json()["address"], "currency": "ETH", "amount": "0.1234567"},
        trust_env=False,
    )
    deposit.raise_for_status()
    SEEDS.transaction_id = deposit.json()["id"]
    subscriptions = []
    for _ in range(1 + SPARE_SUBSCRIPTIONS):
        created = bridge.post("/v1/subscriptions", json={"url": SEED_HOOK_URL})
        created.raise_for_status()
        subscriptions.append(created.json()["id"])
    SEEDS.subscription_id, *SEEDS.disposable_subscription_ids = subscriptions
    events = bridge.get("/v1/events", params={"type": "customer.created"})
    events.raise_for_status()
    SEEDS.event_id = events.json()["items"][0]["id"]


@pytest.fixture(scope="module")
def fuzz_target(standalone_redis_url: str) -> Iterator[FuzzTarget]:
    """The bridge on a real socket with its own sandbox and seeded resources.

    At the end, every operation that was fuzzed must have succeeded at least once: otherwise
    the seeding stopped reaching it and only its error paths were tested.
    """
    redis_url = standalone_redis_url
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    offline = pytest.MonkeyPatch()
    offline.setattr(ssrf, "_resolve", _resolve_nothing)
    upstream = SandboxConfig(account=ACCOUNT, api_key=API_KEY, api_secret=API_SECRET, seed=2026)
    try:
        with serve_in_thread(create_sandbox_app(upstream)) as sandbox:
            settings = make_settings(
                redis_url,
                sandbox.url,
                BRIDGE_CALYPSO_WEBHOOK_SECRET=INBOUND_SECRET,
                # The API's calls count against the account's upstream limit: fuzzing is a burst.
                BRIDGE_UPSTREAM_RATE_LIMIT="2000",
                BRIDGE_WEBHOOK_ALLOW_HTTP="true",
                BRIDGE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
            )
            with serve_in_thread(create_app(settings, retry=FAST_RETRY)) as bridge:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                with httpx.Client(base_url=bridge.url, headers=auth, trust_env=False) as client:
                    _seed(client, sandbox.url)
                with requests.Session() as session:
                    session.trust_env = False
                    target = FuzzTarget(url=bridge.url, session=session)
                    yield target
        assert not target.operations_never_successful(), "fuzzing never got past the errors"
    finally:
        offline.undo()
        SEEDS.__dict__.update(Seeds().__dict__)
        store.flushdb()
        store.close()
