"""``/sandbox/webhooks``: subscribe a receiver to Calypso's purse webhooks, read how delivery
went, and replay an event, as Calypso may deliver one twice.

The secret is write-only: no answer ever shows it, so a test log cannot leak it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency

from bridge.sandbox.config import webhook_url_problem
from bridge.sandbox.controls import decode_body
from bridge.sandbox.webhooks import CalypsoWebhooks

__all__ = [
    "ResendRequest",
    "WebhookControls",
    "WebhookStatus",
    "WebhookSubscribed",
    "WebhookSubscription",
]


class WebhookSubscription(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``PUT /sandbox/webhooks``."""

    url: str
    secret: Annotated[str, msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        problem = webhook_url_problem(self.url)
        if problem:
            raise ValueError(problem)


class WebhookSubscribed(msgspec.Struct, frozen=True):
    url: str
    enabled: bool


class WebhookStatus(msgspec.Struct, frozen=True):
    """``sent`` counts delivered events, ``failed`` failed attempts, since the last PUT/reset."""

    url: str | None
    enabled: bool
    sent: int
    failed: int


class ResendRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Annotated[int, msgspec.Meta(ge=1)]


class WebhookControls(Controller):
    path = "/sandbox/webhooks"

    @put("/")
    async def subscribe(
        self, request: Request[Any, Any, Any], webhooks: NamedDependency[CalypsoWebhooks]
    ) -> WebhookSubscribed:
        body = await decode_body(request, WebhookSubscription)
        webhooks.subscribe(body.url, body.secret)
        return WebhookSubscribed(url=body.url, enabled=True)

    @get("/")
    async def status(self, webhooks: NamedDependency[CalypsoWebhooks]) -> WebhookStatus:
        return WebhookStatus(
            url=webhooks.url,
            enabled=webhooks.url is not None,
            sent=webhooks.sent,
            failed=webhooks.failed,
        )

    @delete("/")
    async def unsubscribe(self, webhooks: NamedDependency[CalypsoWebhooks]) -> None:
        webhooks.unsubscribe()

    @post("/resend", status_code=202)
    async def resend(
        self, request: Request[Any, Any, Any], webhooks: NamedDependency[CalypsoWebhooks]
    ) -> ResendRequest:
        body = await decode_body(request, ResendRequest)
        webhooks.resend(body.id)
        return body
