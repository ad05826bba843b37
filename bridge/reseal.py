"""``bridge secrets``: reseal every subscription secret under the first key, or make a key.

Rotating the key that seals secrets at rest (DESIGN §10): put a new key first in
``BRIDGE_SECRETS_KEYS`` and roll it out to every API and worker, run ``bridge secrets
reseal``, then drop the old key. Each subscription is resealed on its own by compare and set
(bridge.delivery.subscriptions), so a rotation or edit that lands meanwhile is kept, and a
second run finds nothing to do. Plain-text secrets of releases before sealing are sealed too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from redis.exceptions import RedisError

from bridge.config import ConfigError, Settings
from bridge.delivery.subscriptions import RecordContended, SubscriptionStore
from bridge.observability import configure_logging
from bridge.sealing import KeyRing, SecretUnreadable, new_key

__all__ = ["AccountReseal", "add_commands", "reseal_accounts"]

log = logging.getLogger(__name__)


@dataclass
class AccountReseal:
    """What a reseal found in one account."""

    account: str
    resealed: int = 0
    sealed_plain: int = 0
    current: int = 0
    gone: int = 0
    unreadable: list[str] = field(default_factory=list)  # one line each, no secret in it
    contended: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.unreadable or self.contended)

    def summary(self) -> str:
        total = self.resealed + self.sealed_plain + self.current + len(self.unreadable)
        return (
            f"account {self.account}: {total} subscriptions: "
            f"{self.resealed + self.sealed_plain} resealed "
            f"({self.sealed_plain} of them from plain text), "
            f"{self.current} already under the first key, "
            f"{len(self.unreadable)} unreadable, {len(self.contended)} kept changing"
        )


async def reseal_accounts(stores: Mapping[str, SubscriptionStore]) -> list[AccountReseal]:
    """Reseal every subscription of every account (``stores``: account → its store)."""
    reports = []
    for account, store in stores.items():
        report = AccountReseal(account)
        for subscription_id in await store.ids():
            try:
                outcome = await store.reseal(subscription_id)
            except SecretUnreadable as exc:
                report.unreadable.append(f"{subscription_id}: {exc}")
                continue
            except RecordContended as exc:
                report.contended.append(str(exc))
                continue
            if outcome == "resealed":
                report.resealed += 1
            elif outcome == "sealed_plain":
                report.sealed_plain += 1
            elif outcome == "current":
                report.current += 1
            else:
                report.gone += 1
        reports.append(report)
    return reports


def add_commands(roles: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secrets = roles.add_parser(
        "secrets",
        help="manage the keys that seal subscription secrets at rest",
        description=__doc__,
    )
    commands = secrets.add_subparsers(title="commands", required=True, metavar="COMMAND")
    reseal = commands.add_parser(
        "reseal",
        help="seal every subscription secret under the first key",
        description=_run.__doc__,
    )
    reseal.set_defaults(run=_run)
    key = commands.add_parser(
        "new-key",
        help="print a fresh key entry for BRIDGE_SECRETS_KEYS",
        description=_new_key.__doc__,
    )
    key.add_argument("--kid", help="its key id (default: k and today's date)")
    key.set_defaults(run=_new_key)


def _run(args: argparse.Namespace) -> int:
    """Seal every subscription secret of every account under the first key of
    BRIDGE_SECRETS_KEYS (and any plain-text secret of an earlier release). Prints what it
    did per account; exit 0 when every secret is under the first key, 1 when some could not
    be opened (their key is missing from the ring) or Redis failed."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(_reseal(settings, sys.stdout))


async def _reseal(settings: Settings, out: TextIO) -> int:
    from bridge.deployment import Deployment

    deployment = Deployment(settings)
    try:
        reports = await reseal_accounts({c.keys.account: c.subscriptions for c in deployment})
    except RedisError as exc:
        print(f"bridge: Redis failed during the reseal: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await deployment.aclose()
    for report in reports:
        print(report.summary(), file=out)
        for line in [*report.unreadable, *report.contended]:
            print(f"  {line}", file=out)
    return 1 if any(r.failed for r in reports) else 0


def _new_key(args: argparse.Namespace) -> int:
    """Print ``kid:base64key``, a fresh 256-bit key: put it first in BRIDGE_SECRETS_KEYS."""
    entry = f"{args.kid or time.strftime('k%Y%m%d')}:{new_key()}"
    try:
        KeyRing.parse(entry)
    except ValueError as exc:
        raise ConfigError([f"--kid: {exc}"]) from None
    print(entry)
    return 0
