"""Problem documents (RFC 9457) of the bridge, raised as exceptions a caller can catch.

Every error answer of the bridge carries a stable ``code``; :class:`BridgeProblem` holds it
with the status, title and detail. The common answers have a subclass each (chosen by status),
so ``except NotFound`` reads as what happened; ``code`` tells the finer reason
(``idempotency_in_flight``, ``upstream_timeout``, …).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BadRequest",
    "BridgeProblem",
    "Conflict",
    "FieldError",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UpstreamFailed",
    "problem_from",
]


class FieldError(msgspec.Struct, frozen=True):
    message: str
    field: str | None = None
    source: str | None = None


class _Document(msgspec.Struct, frozen=True):
    code: str = "unknown"
    title: str = ""
    status: int | None = None
    detail: str | None = None
    type: str | None = None
    instance: str | None = None
    traceId: str | None = None
    calypsoErrorCode: str | None = None
    errors: list[FieldError] | None = None


class BridgeProblem(Exception):
    """An error answer of the bridge: ``status``, stable ``code``, ``title``, ``detail``."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        trace_id: str | None = None,
        calypso_error_code: str | None = None,
        errors: list[FieldError] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {title}" + (f" ({detail})" if detail else ""))
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.trace_id = trace_id
        self.calypso_error_code = calypso_error_code
        self.errors = errors or []
        self.retry_after = retry_after


class BadRequest(BridgeProblem):
    """400: the request was malformed (``invalid_request``)."""


class Unauthorized(BridgeProblem):
    """401: no token, or not a token the bridge knows."""


class Forbidden(BridgeProblem):
    """403: the token lacks the route's scope or the account."""


class NotFound(BridgeProblem):
    """404: no such object (at the bridge or at Calypso)."""


class Conflict(BridgeProblem):
    """409: e.g. ``idempotency_in_flight``, ``subscription_disabled``."""


class Unprocessable(BridgeProblem):
    """422: a field the bridge or Calypso refused (``errors`` says which)."""


class RateLimited(BridgeProblem):
    """429: too many requests; ``retry_after`` says when to come back."""


class UpstreamFailed(BridgeProblem):
    """502/504: Calypso failed or did not answer in time."""


class Unavailable(BridgeProblem):
    """503: the bridge's storage is unavailable for now."""


_BY_STATUS: dict[int, type[BridgeProblem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
    429: RateLimited,
    502: UpstreamFailed,
    503: Unavailable,
    504: UpstreamFailed,
}


def problem_from(status: int, body: bytes, retry_after: float | None = None) -> BridgeProblem:
    """The exception for an error answer, whether or not its body is a problem document."""
    try:
        doc = msgspec.json.decode(body, type=_Document)
    except msgspec.DecodeError:
        doc = _Document(code=f"http_{status}", title=body[:200].decode("utf-8", "replace"))
    kind = _BY_STATUS.get(status, BridgeProblem)
    return kind(
        status,
        doc.code,
        doc.title,
        doc.detail,
        trace_id=doc.traceId,
        calypso_error_code=doc.calypsoErrorCode,
        errors=doc.errors,
        retry_after=retry_after,
    )
