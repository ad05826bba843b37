"""What can go wrong talking to Calypso: the upstream branch of :mod:`bridge.errors`.

::

    CalypsoError                    any failure of an upstream call
    ├── CalypsoRejected             Calypso answered 4xx with its error document
    │   ├── CalypsoNotFound         errorCode 004, "object not found"
    │   └── CalypsoAuthFailed       002 / 003 / 011: our key, signature or clock is wrong
    ├── CalypsoUnavailable          5xx (with its error document or without), 429 or a
    │   │                           transport failure, left after the retries
    │   └── CalypsoRateLimited      429, with the delay Calypso asked for (if any)
    ├── CalypsoTimeout              no answer within the configured timeout
    └── CalypsoProtocolError        an answer we cannot decode: a 200 not in the documented
                                    shape, or a 4xx without the error document

Every exception carries the upstream ``errorCode``, ``message`` and ``traceId`` when Calypso
sent them, and the HTTP status it answered with.
"""

from __future__ import annotations

from bridge.errors import BridgeError

__all__ = [
    "AUTH_ERROR_CODES",
    "NOT_FOUND_CODE",
    "CalypsoAuthFailed",
    "CalypsoError",
    "CalypsoNotFound",
    "CalypsoProtocolError",
    "CalypsoRateLimited",
    "CalypsoRejected",
    "CalypsoTimeout",
    "CalypsoUnavailable",
]

NOT_FOUND_CODE = "004"
# Invalid api key, wrong sign, invalid timestamp: the bridge's configuration or clock is at
# fault, never the caller's request.
AUTH_ERROR_CODES = frozenset({"002", "003", "011"})


class CalypsoError(BridgeError):
    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        error_code: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.error_code = error_code
        self.trace_id = trace_id

    def __str__(self) -> str:
        parts = [f"{self.operation}: {self.message}"]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.error_code is not None:
            parts.append(f"errorCode={self.error_code}")
        if self.trace_id is not None:
            parts.append(f"traceId={self.trace_id}")
        return " ".join(parts)


class CalypsoRejected(CalypsoError):
    pass


class CalypsoNotFound(CalypsoRejected):
    pass


class CalypsoAuthFailed(CalypsoRejected):
    pass


class CalypsoUnavailable(CalypsoError):
    pass


class CalypsoRateLimited(CalypsoUnavailable):
    def __init__(self, message: str, *, operation: str, retry_after: float | None = None) -> None:
        super().__init__(message, operation=operation, status=429)
        self.retry_after = retry_after


class CalypsoTimeout(CalypsoError):
    pass


class CalypsoProtocolError(CalypsoError):
    pass
