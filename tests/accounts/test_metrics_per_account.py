"""Metrics about one account carry its ``account`` label; the backlog of each is read."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from bridge.calypso.signing import sign
from bridge.poller.watchlist import WatchList
from bridge.store.connection import RedisClient
from bridge.store.keys import Keys
from tests.support.accounts import AccountSetup
from tests.support.hints import hint


async def test_each_account_s_figures_are_labelled_with_it(
    two_api: AsyncTestClient[Litestar],
    redis: RedisClient,
    accounts: tuple[AccountSetup, AccountSetup],
) -> None:
    a, b = accounts
    await WatchList(redis, Keys("bridge", b.id)).watch(str(uuid.uuid4()), "test")
    body = hint(str(uuid.uuid4()))
    headers = {"Sign": sign(body, b.webhook_secret), "Content-Type": "application/json"}
    answer = await two_api.post(f"/v1/calypso/webhooks/{b.id}", content=body, headers=headers)
    assert answer.status_code == 202

    text = (await two_api.get("/metrics", headers={"Authorization": ""})).text
    assert f'bridge_watched_customers{{account="{b.id}"}} 2.0' in text
    assert f'bridge_watched_customers{{account="{a.id}"}} 0.0' in text
    assert f'bridge_stream_length{{account="{a.id}"}} 0.0' in text
    assert f'bridge_inbound_webhooks_total{{account="{b.id}",outcome="accepted"}} 1.0' in text
    assert f'account="{a.id}",outcome="accepted"' not in text
