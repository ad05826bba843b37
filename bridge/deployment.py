"""A process's view of the whole deployment: every configured account's components."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.heartbeats import Heartbeats
from bridge.metrics import Metrics
from bridge.shared import Shared
from bridge.wiring import Components, UpstreamFor, measured

__all__ = ["Deployment"]


class Deployment:
    """Every configured account's :class:`Components` over one set of shared clients."""

    def __init__(
        self,
        settings: Settings,
        *,
        upstream: UpstreamFor = measured,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.settings = settings
        self.shared = Shared(settings, metrics=metrics, heartbeats=heartbeats)
        self.accounts: dict[str, Components] = {
            a.id: Components(
                settings, account=a, shared=self.shared, upstream=upstream, retry=retry
            )
            for a in settings.accounts
        }

    @property
    def first(self) -> Components:
        """The first configured account's (the only one in a one-account deployment)."""
        return next(iter(self.accounts.values()))

    def get(self, account: str) -> Components | None:
        return self.accounts.get(account.lower())

    def __iter__(self) -> Iterator[Components]:
        return iter(self.accounts.values())

    async def check_redis(self) -> list[str]:
        return await self.first.check_redis()

    async def aclose(self) -> None:
        """Every account's client, then the shared clients (whatever happens to one)."""
        try:
            for components in self:
                with contextlib.suppress(Exception):
                    await components.aclose()
        finally:
            await self.shared.aclose()
