"""What a caller of the client may do around each upstream request.

The client itself keeps no state; a worker plugs in its shared rate limit (``before``) and
its metrics and 429 back-off (``after``) through this interface.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["UpstreamHooks"]


class UpstreamHooks(Protocol):
    async def before(self, endpoint: str) -> None:
        """Called before every attempt; may wait (a rate limit)."""

    async def after(
        self, endpoint: str, outcome: str, seconds: float, retry_after: float | None
    ) -> None:
        """Called after every attempt; ``outcome`` is the HTTP status, ``timeout`` or ``error``."""
