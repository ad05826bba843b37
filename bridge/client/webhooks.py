"""``verify_webhook``: the Standard Webhooks check of a delivery, and the typed event.

Every way a delivery can be wrong raises the one :class:`WebhookVerificationError`, whose
``reason`` says which: ``missing_header``, ``malformed_header``, ``stale``, ``future``,
``bad_signature``, ``not_an_event``. Answer 401 (or 400) to any of them; the bridge retries.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

import msgspec
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from bridge.events.model import Event

__all__ = ["Reason", "WebhookVerificationError", "verify_webhook"]

Reason = Literal[
    "missing_header", "malformed_header", "stale", "future", "bad_signature", "not_an_event"
]


class WebhookVerificationError(Exception):
    """The delivery is not a genuine, current event of the bridge; ``reason`` says why."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason


def verify_webhook(
    secret_or_secrets: str | Sequence[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> Event:
    """Check ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` against the raw
    ``body`` with any of the secrets (several while a rotated one overlaps), and return the
    event. ``tolerance`` bounds how far the timestamp may be from now, either way."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = _header(lowered, "webhook-id")
    stamp = _header(lowered, "webhook-timestamp")
    signatures = _signatures(_header(lowered, "webhook-signature"))
    if not stamp.isdigit():
        raise WebhookVerificationError("malformed_header", "webhook-timestamp is not unix seconds")
    moment = int(stamp)
    current = time.time() if now is None else now
    if moment < current - tolerance:
        raise WebhookVerificationError("stale", "webhook-timestamp is too old")
    if moment > current + tolerance:
        raise WebhookVerificationError("future", "webhook-timestamp is in the future")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookVerificationError("not_an_event", "the body is not UTF-8") from exc
    secrets = [secret_or_secrets] if isinstance(secret_or_secrets, str) else secret_or_secrets
    if not any(_signed_by(secret, msg_id, moment, text, signatures) for secret in secrets):
        raise WebhookVerificationError("bad_signature", "no signature matches the secret")
    try:
        event = Event.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WebhookVerificationError("not_an_event", str(exc)) from exc
    if event.id != msg_id:
        raise WebhookVerificationError("not_an_event", "the event id is not the webhook-id")
    return event


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise WebhookVerificationError("missing_header", f"{name} is missing")
    return value


def _signatures(header: str) -> list[bytes]:
    found: list[bytes] = []
    for part in header.split():
        version, _, encoded = part.partition(",")
        if not encoded:
            raise WebhookVerificationError("malformed_header", "webhook-signature is malformed")
        if version != "v1":
            continue  # other schemes (v1a, …) may sit beside ours
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error as exc:
            raise WebhookVerificationError(
                "malformed_header", "webhook-signature is not base64"
            ) from exc
    if not found:
        raise WebhookVerificationError("malformed_header", "webhook-signature has no v1 entry")
    return found


def _signed_by(secret: str, msg_id: str, moment: int, text: str, given: list[bytes]) -> bool:
    try:
        signer = Webhook(secret)
    except (ValueError, binascii.Error, EmptyWebhookSecretError) as exc:
        # The caller's configuration, not the delivery: say so without showing the secret.
        raise ValueError("a webhook secret is not whsec_ + base64") from exc
    signed = signer.sign(msg_id, datetime.fromtimestamp(moment, UTC), text)
    expected = base64.b64decode(signed.split(",", 1)[1])
    return any(hmac.compare_digest(expected, candidate) for candidate in given)
