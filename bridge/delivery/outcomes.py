"""What an attempt's result means for its delivery: done, a retry when, or a dead letter
(which keeps the bytes sent).

Pure apart from the clock: the dispatcher records metrics and the circuit breaker around it.
"""

from __future__ import annotations

import random
import time

import msgspec

from bridge.delivery.attempts import Attempt
from bridge.delivery.queue import DeadLetter, DeliveryState, Settlement
from bridge.delivery.retry import Outcome, RetryPolicy
from bridge.delivery.sender import SendResult
from bridge.store.leases import Lease

__all__ = ["dead_letter", "settlement_for"]

_encoder = msgspec.json.Encoder()


def settlement_for(
    subscription_id: str,
    lease: Lease,
    state: DeliveryState,
    result: SendResult,
    policy: RetryPolicy,
    rng: random.Random,
    body: bytes | None = None,
) -> Settlement:
    """``body``: the bytes that were sent, kept by a dead letter."""
    attempt = state.attempts + 1
    now = time.time()
    next_at: int | None = None
    if result.outcome is Outcome.DELIVERED:
        settlement = Settlement(subscription_id, lease, "done", failed=False)
    elif result.outcome is Outcome.GONE:
        # The subscription is disabled; its delivery stays, as a dead letter saying why.
        settlement = dead_letter(subscription_id, lease, state, "gone", attempt, body)
        settlement.gone = True
    else:
        delay = policy.next_delay(attempt, retry_after=result.retry_after, rng=rng)
        if delay is None:
            outcome = result.outcome.value
            settlement = dead_letter(subscription_id, lease, state, outcome, attempt, body)
        else:
            next_at = int((now + delay) * 1000)
            retried = msgspec.structs.replace(state, attempts=attempt)
            settlement = Settlement(
                subscription_id, lease, "retry", failed=True, due_ms=next_at, state=retried
            )
    record = Attempt(
        eventId=lease.item,
        eventType=state.eventType,
        attempt=attempt,
        outcome=result.outcome.value,
        at=int(now * 1000),
        latencyMs=round(result.latency_ms, 3),
        status=result.status,
        error=result.error,
        response=result.response,
        nextAttemptAt=next_at,
        test=state.test,
    )
    settlement.attempt = _encoder.encode(record)
    settlement.line, settlement.entry = state.line, state.entry  # done or dead: the next goes
    return settlement


def dead_letter(
    subscription_id: str,
    lease: Lease,
    state: DeliveryState,
    outcome: str,
    attempts: int | None = None,
    body: bytes | None = None,
) -> Settlement:
    """A dead letter keeping ``body`` (else the state's inline bytes). ``attempts`` is the
    attempt that failed last; None means the delivery was given up without one, which says
    nothing of the endpoint: its failing clock is left as it is."""
    letter = DeadLetter(
        eventId=lease.item,
        eventType=state.eventType,
        attempts=state.attempts if attempts is None else attempts,
        lastOutcome=outcome,
        at=int(time.time() * 1000),
        entry=state.entry,
        body=state.body if body is None else body,
        line=state.line,
    )
    return Settlement(
        subscription_id,
        lease,
        "dead",
        failed=None if attempts is None else True,
        dead=letter,
        line=state.line,
        entry=state.entry,
    )
