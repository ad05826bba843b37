"""The lease token ``worker:expiry_ms``: made and read the same way everywhere in Python."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.store.leases import Lease, make_token, token_expiry_ms, token_worker


def test_a_token_names_the_worker_then_the_expiry() -> None:
    assert make_token("host-1:4242:9f3a0c", 1_700_000_000_123) == "host-1:4242:9f3a0c:1700000000123"


def test_the_expiry_is_what_follows_the_last_colon_of_a_worker_id_with_colons() -> None:
    assert token_expiry_ms("host-1:4242:9f3a0c:1700000000123") == 1_700_000_000_123


@given(
    worker=st.text(alphabet=st.characters(codec="ascii", exclude_characters="\n"), max_size=40),
    expiry=st.integers(min_value=0, max_value=2**53),
)
def test_the_expiry_of_a_made_token_reads_back_whatever_the_worker_id(
    worker: str, expiry: int
) -> None:
    token = make_token(worker, expiry)
    assert token_expiry_ms(token) == expiry
    assert token_worker(token) == worker


def test_a_token_without_an_expiry_reads_as_expired() -> None:
    for token in ("", "worker", "worker:", "worker:soon", "worker:12x", "worker:١٢"):
        assert token_expiry_ms(token) == 0, token


def test_a_lease_knows_when_it_runs_out() -> None:
    lease = Lease("customer-1", make_token("w:1:ab", 5_000), 4_000.0)
    assert lease.expiry_ms == 5_000
    assert lease.worker == "w:1:ab"
