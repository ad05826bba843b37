"""examples/receiver.py, served on a socket, takes a deposit's webhooks from a real worker:
each event handled once and in order, a redelivery dropped as a duplicate, an old state
dropped as stale, and a bad signature refused."""

from __future__ import annotations

import time

import httpx

from bridge.client import Event
from bridge.client.models import TransactionData
from bridge.delivery.signing import headers, new_secret
from bridge.worker import Worker
from examples.receiver import Receiver, create_app
from tests.support.sandbox_server import serve_in_thread
from tests.support.steps import advance, deposit, new_customer_with_address, poll_now, subscribe
from tests.support.waiting import eventually

LIFECYCLE = [
    "transaction.mem_pool_found",
    "transaction.pending_compliance_check",
    "transaction.confirmed",
    "transaction.credited",
]


async def test_the_example_receiver_handles_a_deposit_once_in_order_and_drops_the_rest(
    api: httpx.AsyncClient, worker: Worker, sandbox_control: httpx.AsyncClient
) -> None:
    handled: list[Event] = []

    async def record(event: Event) -> None:
        handled.append(event)

    # It remembers only the last two ids, so an old event redelivered later is caught by its
    # sequence rather than its id: the check that still holds once a receiver forgets ids.
    receiver = Receiver(record, remember=2)
    secrets: list[str] = []  # filled once the subscription exists: it needs the URL first
    with serve_in_thread(create_app(secrets, receiver)) as server:
        url = f"{server.url}/webhooks"
        subscription = await subscribe(api, url, eventTypes=["transaction.*"])
        secrets.append(subscription["secret"])

        customer, address = await new_customer_with_address(api)
        tx = await deposit(sandbox_control, address, "0.5")
        await poll_now(worker, customer)
        await worker.deliver()
        for _ in LIFECYCLE[1:]:
            await advance(sandbox_control, tx)
            await poll_now(worker, customer)
            await worker.deliver()
        await eventually(lambda: len(handled) >= len(LIFECYCLE), what="four events handled")
        assert [e.type for e in handled] == LIFECYCLE
        sequences = [e.data.sequence for e in handled if isinstance(e.data, TransactionData)]
        assert sequences == [1, 2, 3, 4]
        assert {e.data.transaction.id for e in handled if isinstance(e.data, TransactionData)} == {
            tx
        }
        assert len({e.id for e in handled}) == len(LIFECYCLE)

        newest, oldest = handled[-1].id, handled[0].id
        for again in (newest, oldest):
            answer = await api.post(
                f"/v1/events/{again}/redeliver", json={"subscriptionId": subscription["id"]}
            )
            assert answer.status_code == 202, answer.text
            await worker.deliver()
        await eventually(lambda: receiver.duplicates and receiver.stale, what="both dropped")
        assert receiver.duplicates == [newest]
        assert receiver.stale == [oldest]
        assert len(handled) == len(LIFECYCLE)

        body = handled[0].encode()
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                url, content=body, headers=headers([new_secret()], oldest, int(time.time()), body)
            )
            unsigned = await client.post(url, content=body)
        assert (forged.status_code, forged.text) == (401, "bad_signature")
        assert (unsigned.status_code, unsigned.text) == (401, "missing_header")

    log = (await api.get(f"/v1/subscriptions/{subscription['id']}/deliveries")).json()["items"]
    assert [a["outcome"] for a in log] == ["delivered"] * (len(LIFECYCLE) + 2)
    assert receiver.queue.empty()
