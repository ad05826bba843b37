"""``POST /v1/calypso/webhooks/{account}``: Calypso's own webhooks, taken only as hints.

Each account's webhooks arrive at its own path and are checked with its own webhook secret.
The path without the account stays for a one-account deployment.

Their signature covers the body but no timestamp, so a captured one could be replayed: the
bridge never takes state from them. A verified hint makes its customer due for a poll at
once (and watched, if it was not); the poll reads the truth from Calypso. The one fact they
alone carry, that a purse expired, becomes ``deposit_address.expired``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter

from bridge.api.problems import ProblemError, problems
from bridge.api.services import ServicesDep
from bridge.calypso.models import ACCOUNT_PATTERN
from bridge.calypso.signing import verify
from bridge.events.build import address_expired
from bridge.wiring import Components

__all__ = ["InboundAccepted", "calypso_webhook", "calypso_webhook_of_account"]

PURSE_EXPIRED = "CUSTOMER_PURSE_EXPIRED"
SEEN_FOR_SECONDS = 7 * 86400
MAX_BODY = 64 * 1024


class InboundAccepted(msgspec.Struct, frozen=True):
    status: str
    customerId: str


class _Hint(msgspec.Struct, frozen=True):
    webhook_id: str
    event_type: str
    customer_id: str
    purse_id: str | None
    address: str | None


_DESCRIPTION = (
    "Authenticated by Calypso's `Sign` header (HMAC-SHA512 hex of the raw body), not by a "
    "bearer token. Answers 202 and polls the customer at once; a repeated webhook `id` "
    "answers 200 and changes nothing."
)
_RESPONSES: dict[int, ResponseSpec] = {
    200: ResponseSpec(
        data_container=InboundAccepted,
        description="A webhook `id` seen before: nothing changes",
        generate_examples=False,
    ),
    **problems(400, 401, 404, 413, 503),
}


@post(
    "/v1/calypso/webhooks/{account:str}",
    status_code=202,
    summary="Receive a Calypso webhook for one account (signed with its webhook secret)",
    description=_DESCRIPTION + " An account this bridge does not serve answers 404.",
    tags=["calypso"],
    responses=_RESPONSES,
    request_max_body_size=MAX_BODY,
    security=[],
)
async def calypso_webhook_of_account(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    account: Annotated[
        str, PathParameter(pattern=ACCOUNT_PATTERN, description="The Calypso account, `0x…`.")
    ],
) -> Response[InboundAccepted]:
    return await _receive(request, services)


@post(
    "/v1/calypso/webhooks",
    status_code=202,
    summary="Receive a Calypso webhook (a deployment of one account)",
    description=_DESCRIPTION + " With several accounts this path answers 400 "
    "`account_required`: use `/v1/calypso/webhooks/{account}`.",
    tags=["calypso"],
    responses=_RESPONSES,
    request_max_body_size=MAX_BODY,
    security=[],
)
async def calypso_webhook(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Response[InboundAccepted]:
    if len(services.settings.accounts) > 1:
        raise ProblemError(
            400,
            "account_required",
            "This bridge serves several accounts",
            "Send each account's webhooks to /v1/calypso/webhooks/{account}.",
        )
    return await _receive(request, services)


async def _receive(
    request: Request[Any, Any, Any], services: Components
) -> Response[InboundAccepted]:
    secret = services.account.webhook_secret
    if secret is None:
        raise ProblemError(404, "not_found", "Inbound Calypso webhooks are not enabled")
    body = await request.body()
    if not verify(body, secret, request.headers.get("Sign")):
        services.metrics.inbound_hints.labels("bad_signature").inc()
        raise ProblemError(
            401,
            "bad_signature",
            "The Sign header does not match the body",
            # RFC 9110: a 401 names how to authenticate; here, Calypso's Sign header.
            headers={"WWW-Authenticate": 'Sign realm="calypso-webhooks"'},
        )
    hint = _parse(body)
    seen = services.keys.inbound_seen(hint.webhook_id)
    if await services.redis.exists(seen):
        services.metrics.inbound_hints.labels("duplicate").inc()
        return Response(InboundAccepted("duplicate", hint.customer_id), status_code=200)
    await services.watchlist.watch(hint.customer_id, "calypso-webhook")
    if hint.event_type == PURSE_EXPIRED and hint.purse_id:
        account = services.account.id
        expired = address_expired(account, hint.customer_id, hint.purse_id, hint.address or "")
        await services.events.append([expired])
    await services.schedule.poke(hint.customer_id)
    # Marked only after the work is done: a failure above lets Calypso's retry run it again,
    # and every step is idempotent.
    await services.redis.set(seen, b"1", ex=SEEN_FOR_SECONDS)
    services.metrics.inbound_hints.labels("accepted").inc()
    return Response(InboundAccepted("accepted", hint.customer_id), status_code=202)


def _parse(body: bytes) -> _Hint:
    """Read the few fields a hint needs, tolerating the docs' odd types (numbers as text)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise _invalid("The body is not JSON") from None
    if not isinstance(document, dict):
        raise _invalid("The body is not a JSON object")
    data = document.get("data")
    webhook_id = document.get("id")
    event_type = document.get("eventType")
    if not isinstance(data, dict) or webhook_id is None or not isinstance(event_type, str):
        raise _invalid("Expected id, eventType and data")
    try:
        customer_id = str(uuid.UUID(str(data.get("customerId"))))
    except ValueError:
        raise _invalid("data.customerId is not a UUID") from None
    purse_id = data.get("purseId")
    address = data.get("address")
    return _Hint(
        webhook_id=str(webhook_id),
        event_type=event_type,
        customer_id=customer_id,
        purse_id=None if purse_id is None else str(purse_id),
        address=None if address is None else str(address),
    )


def _invalid(detail: str) -> ProblemError:
    return ProblemError(400, "invalid_request", "Not a Calypso webhook", detail)
