"""The API process's open event streams: a limit per token, and their end at shutdown.

Counted per process (each API replica allows ``BRIDGE_SSE_MAX_STREAMS_PER_TOKEN`` streams per
token): a count in Redis would outlive a process that died with streams open.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from bridge.api.problems import ProblemError

__all__ = ["OpenStreams", "StreamSlot"]

# How long a refused consumer should wait: about how long another stream takes to notice
# that its own consumer went away (the next heartbeat or event it fails to send).
RETRY_AFTER_SECONDS = 15


class StreamSlot:
    """One open stream's place in its token's count; releasing it twice releases it once."""

    def __init__(self, streams: OpenStreams, token: str) -> None:
        self._streams = streams
        self._token = token
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._streams.release(self._token)


class OpenStreams:
    """Open streams per token name, and the event that ends them all (shutdown)."""

    def __init__(self, max_per_token: int, *, heartbeat: float = 15.0) -> None:
        self.max_per_token = max_per_token
        self.heartbeat = heartbeat
        self.closing = asyncio.Event()
        self._open: Counter[str] = Counter()

    def open(self, token: str) -> StreamSlot:
        """A slot for one more stream of ``token``, or a 429 problem beyond the limit."""
        if self.closing.is_set():
            raise ProblemError(
                503,
                "shutting_down",
                "The bridge is shutting down",
                "Reconnect; another replica (or this one, restarted) will serve the stream.",
                headers={"Retry-After": "1"},
            )
        if self._open[token] >= self.max_per_token:
            raise ProblemError(
                429,
                "too_many_streams",
                "Too many open event streams for this token",
                f"A token may hold {self.max_per_token} open streams on each API process; "
                "close one, or retry after the delay in Retry-After.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._open[token] += 1
        return StreamSlot(self, token)

    def release(self, token: str) -> None:
        self._open[token] -= 1
        if self._open[token] <= 0:
            del self._open[token]

    def count(self, token: str) -> int:
        return self._open[token]

    def close(self) -> None:
        """End every open stream at its next step and refuse new ones (shutdown)."""
        self.closing.set()
