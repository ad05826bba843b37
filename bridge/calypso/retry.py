"""When and how long to wait before trying an upstream read again.

Only failures that say nothing about the request itself are retried: transport errors,
timeouts, 5xx and 429. A 4xx with Calypso's error document is an answer, not a failure.
Waits use full jitter so replicas that failed together do not come back together, and a
429's ``Retry-After`` is honoured up to a bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import tenacity

from bridge.calypso.errors import CalypsoRateLimited, CalypsoTimeout, CalypsoUnavailable

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 5.0
    # Stop retrying once this much time has gone, so an API caller waits a bounded time.
    deadline: float = 30.0

    @classmethod
    def never(cls) -> RetryPolicy:
        return cls(attempts=1)

    def retrying(self) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type((CalypsoUnavailable, CalypsoTimeout)),
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.deadline),
            wait=self._wait,
            reraise=True,
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        jittered = tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)
        delay: float = jittered(state)
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, CalypsoRateLimited) and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.max_retry_after))
        return delay
