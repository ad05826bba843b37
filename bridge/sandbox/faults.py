"""Injected upstream misbehaviour (latency, errors, timeouts, 429) and per-endpoint counters.

Faults exist so the bridge's retries and back-off can be tested against something that fails
on purpose; the counters show afterwards how the bridge reacted (how many 429s it took before
it slowed down, whether it retried a 500). ``failNext`` fails a fixed number of requests so a
test can assert exact retry counts; the rates draw from a seeded ``random.Random``.
``failAfterProcessing`` makes a failure strike after the operation ran, as when Calypso did
the work but its answer was lost: the case that makes blind retries of writes dangerous.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

import msgspec

from bridge.calypso.endpoints import ENDPOINTS

__all__ = [
    "CounterSnapshot",
    "EndpointCount",
    "FaultDecision",
    "FaultInjector",
    "FaultSettings",
    "RequestCounters",
]

Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
ErrorStatus = Annotated[int, msgspec.Meta(ge=400, le=599)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0.0)]


class FaultSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``PUT /sandbox/faults``; every field defaults to "no fault"."""

    latencyMs: NonNegativeInt = 0
    errorRate: Rate = 0.0
    errorStatus: ErrorStatus = 500
    timeoutRate: Rate = 0.0
    hangSeconds: NonNegativeFloat = 30.0
    rateLimitRate: Rate = 0.0
    retryAfterSeconds: NonNegativeInt = 1
    failNext: NonNegativeInt = 0
    failNextStatus: ErrorStatus = 503
    failAfterProcessing: bool = False
    endpoints: list[str] | None = None

    def __post_init__(self) -> None:
        # One draw decides between the three rates, so together they cannot exceed certainty.
        if self.errorRate + self.timeoutRate + self.rateLimitRate > 1.0:
            raise ValueError("errorRate + timeoutRate + rateLimitRate must not exceed 1")
        known = {endpoint.name for endpoint in ENDPOINTS}
        unknown = sorted(set(self.endpoints or ()) - known)
        if unknown:
            raise ValueError(f"unknown endpoint names {unknown}; known: {sorted(known)}")


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: wait, and possibly answer ``status`` instead of serving it."""

    latency_seconds: float = 0.0
    status: int | None = None
    hang_seconds: float = 0.0
    retry_after_seconds: int | None = None
    reason: str = ""
    after_processing: bool = False


class FaultInjector:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._settings = FaultSettings()

    @property
    def settings(self) -> FaultSettings:
        """The current settings; ``failNext`` shows how many forced failures remain."""
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        self._settings = settings

    def clear(self) -> None:
        self._settings = FaultSettings()

    def draw(self, endpoint: str) -> FaultDecision:
        # Synchronous on purpose: the failNext countdown cannot interleave with another request.
        settings = self._settings
        if settings.endpoints is not None and endpoint not in settings.endpoints:
            return FaultDecision()
        latency = settings.latencyMs / 1000
        if settings.failNext > 0:
            self._settings = msgspec.structs.replace(settings, failNext=settings.failNext - 1)
            return self._failure(latency, settings.failNextStatus, settings, "forced failure")
        draw = self._rng.random()
        if draw < settings.rateLimitRate:
            return self._failure(latency, 429, settings, "rate limit exceeded")
        draw -= settings.rateLimitRate
        if draw < settings.timeoutRate:
            return FaultDecision(
                latency,
                504,
                settings.hangSeconds,
                None,
                "gateway timeout",
                settings.failAfterProcessing,
            )
        draw -= settings.timeoutRate
        if draw < settings.errorRate:
            return self._failure(latency, settings.errorStatus, settings, "injected error")
        return FaultDecision(latency_seconds=latency)

    @staticmethod
    def _failure(
        latency: float, status: int, settings: FaultSettings, reason: str
    ) -> FaultDecision:
        retry_after = settings.retryAfterSeconds if status == 429 else None
        return FaultDecision(
            latency, status, 0.0, retry_after, reason, settings.failAfterProcessing
        )


class EndpointCount(msgspec.Struct, frozen=True):
    total: int
    byStatus: dict[str, int]


class CounterSnapshot(msgspec.Struct, frozen=True):
    """Body of ``GET /sandbox/counters``."""

    total: int
    byEndpoint: dict[str, EndpointCount]


class RequestCounters:
    """Requests per endpoint and final HTTP status, injected faults included."""

    def __init__(self, endpoints: Iterable[str]) -> None:
        self._endpoints = tuple(endpoints)
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        self._counts[(endpoint, status)] += 1

    def reset(self) -> None:
        self._counts.clear()

    def snapshot(self) -> CounterSnapshot:
        by_endpoint: dict[str, EndpointCount] = {}
        # Every endpoint is listed, at zero when unused, so readers need no key checks.
        for endpoint in self._endpoints:
            by_status = {
                str(status): count
                for (name, status), count in sorted(self._counts.items())
                if name == endpoint
            }
            by_endpoint[endpoint] = EndpointCount(sum(by_status.values()), by_status)
        return CounterSnapshot(sum(self._counts.values()), by_endpoint)
