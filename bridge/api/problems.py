"""RFC 9457 problem documents: the only shape an error of the API ever takes.

Exception handlers turn every failure into a problem with a stable ``code`` (also in
``type``), so callers branch on ``code`` and never parse ``detail``: the bridge's own errors
by their branch of the tree in :mod:`bridge.errors`, Litestar's and Redis's by theirs, a body
nested past the JSON decoder's depth as a 400, and anything else as a 500. Upstream failures
carry Calypso's ``traceId`` and ``errorCode``; nothing carries a stack trace or a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap
from redis.exceptions import RedisError

from bridge.calypso.errors import (
    CalypsoAuthFailed,
    CalypsoError,
    CalypsoNotFound,
    CalypsoProtocolError,
    CalypsoRateLimited,
    CalypsoRejected,
    CalypsoTimeout,
    CalypsoUnavailable,
)
from bridge.customers import ExternalIdInFlight
from bridge.delivery.replay import EventNotFound, SubscriptionDisabled, SubscriptionNotFound
from bridge.delivery.ssrf import UrlRefused
from bridge.errors import BridgeError
from bridge.sealing import SecretUnreadable
from bridge.store.idempotency import IdempotencyKeyInFlight, IdempotencyKeyReused
from bridge.store.replication import WriteNotReplicated

__all__ = ["PROBLEM_MEDIA_TYPE", "Problem", "ProblemError", "exception_handlers", "problems"]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:calypso-bridge:problem:"


class FieldError(msgspec.Struct, frozen=True):
    message: str
    field: str | None = None
    source: str | None = None


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    traceId: str | None = None
    calypsoErrorCode: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(BridgeError):
    """Raised by handlers for a refusal that only the API knows how to describe."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem documents a route can answer with."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description="Problem details (RFC 9457)",
            generate_examples=False,
        )
        for status in statuses
    }


def _respond(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    upstream: CalypsoError | None = None,
    errors: list[FieldError] | None = None,
) -> Response[Problem]:
    problem = Problem(
        type=TYPE_PREFIX + code,
        title=title,
        status=status,
        code=code,
        detail=detail,
        instance=request.url.path,
        traceId=upstream.trace_id if upstream else None,
        calypsoErrorCode=upstream.error_code if upstream else None,
        errors=errors,
    )
    return Response(
        problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


def _bridge_error(request: Request[Any, Any, Any], exc: BridgeError) -> Response[Problem]:
    if isinstance(exc, ProblemError):
        return _respond(request, exc.status, exc.code, exc.title, exc.detail, headers=exc.headers)
    if isinstance(exc, CalypsoError):
        return _calypso_error(request, exc)
    refusal = _REFUSALS.get(type(exc))
    if refusal is not None:
        return _bridge_error(request, refusal)
    if isinstance(exc, UrlRefused):
        title = "This URL cannot receive webhooks"
        return _respond(request, 422, "url_refused", title, exc.reason)
    # The rest of the tree (configuration, secrets, contention) is never a caller's doing.
    return _unexpected(request, exc)


# The bridge's own refusals, raised outside the API: what each means to a caller.
_REFUSALS: dict[type[BridgeError], ProblemError] = {
    WriteNotReplicated: ProblemError(
        503,
        "storage_not_durable",
        "The bridge's storage could not make the change durable",
        "No Redis replica acknowledged the request in time, so Calypso was not called; "
        "retry shortly.",
        headers={"Retry-After": "2"},
    ),
    ExternalIdInFlight: ProblemError(
        409,
        "external_id_in_flight",
        "Another request is creating a customer with this externalId",
        "Retry shortly; it will return that customer.",
        headers={"Retry-After": "1"},
    ),
    IdempotencyKeyInFlight: ProblemError(
        409,
        "idempotency_in_flight",
        "A request with this Idempotency-Key is still in progress",
        "Retry once it has finished to get its response.",
        headers={"Retry-After": "1"},
    ),
    IdempotencyKeyReused: ProblemError(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request",
        "Use a new key for a new request.",
    ),
    SecretUnreadable: ProblemError(
        503,
        "secret_unreadable",
        "The subscription's stored secret cannot be opened",
        "The bridge's keys (BRIDGE_SECRETS_KEYS) lack the one it was sealed with; "
        "an operator must restore that key.",
    ),
    EventNotFound: ProblemError(
        404, "not_found", "No such event", "Unknown, or older than the retention."
    ),
    SubscriptionNotFound: ProblemError(404, "not_found", "No such subscription"),
    SubscriptionDisabled: ProblemError(
        409, "subscription_disabled", "Enable the subscription first"
    ),
}


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if isinstance(exc, ValidationException) or exc.status_code == 400:
        return _respond(
            request,
            400,
            "invalid_request",
            "The request is not valid",
            _validation_detail(exc),
            errors=_field_errors(exc.extra),
        )
    if isinstance(exc, NotAuthorizedException):
        return _respond(
            request,
            401,
            "unauthorized",
            "Missing or invalid bearer token",
            "Send 'Authorization: Bearer <token>' with a configured API token.",
            headers={"WWW-Authenticate": 'Bearer realm="calypso-bridge"'},
        )
    if isinstance(exc, NotFoundException):
        return _respond(request, 404, "not_found", "Not found", exc.detail)
    if isinstance(exc, MethodNotAllowedException):
        return _respond(
            request,
            405,
            "method_not_allowed",
            "Method not allowed",
            exc.detail,
            headers=exc.headers,
        )
    status = exc.status_code
    if status >= 500:
        log.error("internal error", exc_info=exc)
        return _respond(request, 500, "internal_error", "Internal error")
    return _respond(
        request, status, f"http_{status}", exc.detail or "Request failed", headers=exc.headers
    )


def _validation_detail(exc: HTTPException) -> str:
    # Litestar's detail names the request ("Validation failed for POST /v1/…"); the field
    # errors say more, so lead with the first of them.
    errors = _field_errors(exc.extra)
    if errors:
        first = errors[0]
        where = f" ({first.source} {first.field})" if first.field else ""
        return f"{first.message}{where}"
    return exc.detail


def _field_errors(extra: Any) -> list[FieldError] | None:
    if not isinstance(extra, list):
        return None
    errors = [
        FieldError(
            message=str(item.get("message", "invalid")),
            field=None if item.get("key") is None else str(item.get("key")),
            source=_source_name(item.get("source")),
        )
        for item in extra
        if isinstance(item, dict)
    ]
    return errors or None


def _source_name(source: Any) -> str | None:
    """``ParamType.QUERY`` → ``query``; Litestar passes enums or plain strings."""
    if source is None:
        return None
    return str(getattr(source, "value", source))


def _calypso_error(request: Request[Any, Any, Any], exc: CalypsoError) -> Response[Problem]:
    if isinstance(exc, CalypsoNotFound):
        return _respond(
            request, 404, "not_found", "Not found at Calypso", exc.message, upstream=exc
        )
    if isinstance(exc, CalypsoAuthFailed):
        log.error("calypso refused our credentials or clock: %s", exc)
        return _respond(
            request,
            502,
            "upstream_auth_failed",
            "Calypso refused the bridge's credentials",
            "The bridge's Calypso key, secret or clock is wrong; operators see the details.",
            upstream=exc,
        )
    if isinstance(exc, CalypsoRejected):
        return _respond(
            request,
            422,
            "upstream_rejected",
            "Calypso rejected the request",
            exc.message,
            upstream=exc,
        )
    if isinstance(exc, CalypsoRateLimited):
        retry_after = str(max(1, round(exc.retry_after or 1)))
        return _respond(
            request,
            503,
            "upstream_rate_limited",
            "Calypso is rate limiting the bridge",
            "Retry after the delay in Retry-After.",
            headers={"Retry-After": retry_after},
        )
    if isinstance(exc, CalypsoTimeout):
        return _respond(
            request, 504, "upstream_timeout", "Calypso did not answer in time", exc.message
        )
    log.warning("calypso unavailable: %s", exc)
    if isinstance(exc, CalypsoProtocolError):
        detail = "Calypso answered in an unexpected shape."
    else:
        assert isinstance(exc, CalypsoUnavailable)
        detail = exc.message
    return _respond(
        request, 502, "upstream_unavailable", "Calypso is unavailable", detail, upstream=exc
    )


def _redis_error(request: Request[Any, Any, Any], exc: RedisError) -> Response[Problem]:
    log.warning("redis unavailable: %s", type(exc).__name__)
    return _respond(
        request,
        503,
        "storage_unavailable",
        "The bridge's storage is unavailable",
        "Redis did not answer; retry shortly.",
        headers={"Retry-After": "2"},
    )


def _recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Problem]:
    # msgspec decodes JSON recursively and stops at the interpreter's depth limit; a body
    # nested that deep (``[[[[…]]]]``) is the caller's doing, whichever route read it. Any
    # other recursion is ours.
    if "deserializ" not in str(exc):
        return _unexpected(request, exc)
    return _respond(
        request,
        400,
        "invalid_request",
        "The request is not valid",
        "The JSON body is nested too deeply.",
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("unhandled error", exc_info=exc)
    return _respond(request, 500, "internal_error", "Internal error")


exception_handlers: ExceptionHandlersMap = {
    BridgeError: _bridge_error,
    HTTPException: _http_exception,
    RedisError: _redis_error,
    RecursionError: _recursion,
    Exception: _unexpected,
}
