"""How one sandbox instance is set up: the merchant it impersonates, its clock tolerance, and
where it sends Calypso-style webhooks from the start."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

__all__ = ["SandboxConfig", "webhook_url_problem"]


class SandboxConfig(msgspec.Struct, frozen=True):
    """The credentials the sandbox accepts; give the bridge the same three values.

    ``clock_skew_ms`` is Calypso's ±3 minute timestamp window. ``seed`` makes ids, addresses
    and fault draws reproducible. ``webhook_url`` and ``webhook_secret`` (both or neither)
    subscribe a receiver to purse events from the start; ``PUT /sandbox/webhooks`` can change
    that at run time.
    """

    account: str
    api_key: str
    api_secret: str
    clock_skew_ms: int = 180_000
    seed: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None

    def __post_init__(self) -> None:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            raise ValueError("give webhook_url and webhook_secret together, or neither")
        if self.webhook_secret == "":
            raise ValueError("webhook_secret must not be empty")
        problem = webhook_url_problem(self.webhook_url) if self.webhook_url else None
        if problem:
            raise ValueError(problem)


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks, or ``None`` when it can."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"webhook url {url!r} is malformed: {exc}"
    if parts.scheme not in ("http", "https") or not host:
        return f"webhook url must be an absolute http(s) URL, got {url!r}"
    return None
