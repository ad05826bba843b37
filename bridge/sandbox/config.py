"""How one sandbox instance is set up: the merchant it impersonates and its clock tolerance."""

from __future__ import annotations

import msgspec

__all__ = ["SandboxConfig"]


class SandboxConfig(msgspec.Struct, frozen=True):
    """The credentials the sandbox accepts; give the bridge the same three values.

    ``clock_skew_ms`` is Calypso's ±3 minute timestamp window. ``seed`` makes ids, addresses
    and fault draws reproducible.
    """

    account: str
    api_key: str
    api_secret: str
    clock_skew_ms: int = 180_000
    seed: int | None = None
