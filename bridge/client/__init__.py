"""A client kit for the bridge that needs none of the server's dependencies.

Only httpx, msgspec, redis and standardwebhooks are imported (a test checks it in a fresh
interpreter):

- :class:`BridgeClient` / :class:`AsyncBridgeClient`: every ``/v1`` route as a typed method;
  problem documents raised as :class:`BridgeProblem` and its subclasses.
- :class:`EventConsumer`: a consumer group on the event stream in Redis, typed events.
- :func:`verify_webhook`: the Standard Webhooks check of a delivery, typed event out.

See docs/client.md.
"""

from bridge.client.consumer import EventConsumer, stream_key
from bridge.client.http import AsyncBridgeClient, BridgeClient
from bridge.client.models import Event, EventType
from bridge.client.problems import (
    BadRequest,
    BridgeProblem,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
)
from bridge.client.transport import RetryPolicy
from bridge.client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AsyncBridgeClient",
    "BadRequest",
    "BridgeClient",
    "BridgeProblem",
    "Conflict",
    "Event",
    "EventConsumer",
    "EventType",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "UpstreamFailed",
    "WebhookVerificationError",
    "stream_key",
    "verify_webhook",
]
