"""``bridge acl consumer|bridge``: print the Redis ACL users of DESIGN §10.

Only the key prefix (``--prefix``, else ``BRIDGE_KEY_PREFIX``, else ``bridge``) and, for a
consumer, the account are needed: the commands run where the bridge's full configuration
is not at hand (an operator's laptop, configuration management). The ACL line goes to stdout,
so ``> users.acl`` keeps it; a generated password goes to stderr, once, with the URL to
connect with, and is stored nowhere.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any
from urllib.parse import quote, urlsplit

from bridge.calypso.models import ACCOUNT_PATTERN
from bridge.config import ConfigError
from bridge.store.acl import bridge_user, consumer_user, new_password

__all__ = ["add_acl_commands"]

_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # as BRIDGE_KEY_PREFIX (bridge.config)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?")


def add_acl_commands(roles: Any) -> None:
    """Add ``acl consumer`` and ``acl bridge`` to the ``bridge`` parser's subcommands."""
    acl = roles.add_parser(
        "acl",
        help="print least-privilege Redis users (ACL SETUSER lines)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = acl.add_subparsers(title="users", required=True, metavar="USER")
    consumer = kinds.add_parser(
        "consumer",
        help="a reader of one account's event stream with its own consumer group",
        description=_run_consumer.__doc__,
    )
    consumer.add_argument("--account", required=True, help="the Calypso account, 0x…")
    consumer.add_argument("--name", required=True, help="the Redis user name (e.g. ledger)")
    _common(consumer)
    consumer.set_defaults(run=_run_consumer)
    bridge = kinds.add_parser(
        "bridge",
        help="the narrowest user the bridge's API and workers run as",
        description=_run_bridge.__doc__,
    )
    bridge.add_argument("--name", default="bridge", help="the Redis user name (default bridge)")
    _common(bridge)
    bridge.set_defaults(run=_run_bridge)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password",
        help="its password, 16 characters or more ('-' reads one line from stdin); "
        "default: a new random one, printed once on stderr",
    )
    parser.add_argument(
        "--prefix", help="the bridge's key prefix (default: BRIDGE_KEY_PREFIX or bridge)"
    )
    parser.add_argument(
        "--redis-version",
        default="7.2",
        help="the server's version, MAJOR.MINOR (default 7.2; before 7.2 CLIENT SETINFO is "
        "left out, as the server would refuse the line over it)",
    )
    parser.add_argument(
        "--aclfile", action="store_true", help="print an aclfile line (user …) instead"
    )


def _run_consumer(args: argparse.Namespace) -> int:
    """Print the ACL SETUSER line of a user that may read one account's event stream with a
    consumer group of its own (XREADGROUP, XACK, XAUTOCLAIM, XPENDING, XINFO, XGROUP CREATE)
    and nothing else: no other key, no XADD, XDEL, XTRIM or DEL, no secrets."""
    problems: list[str] = []
    if not re.fullmatch(ACCOUNT_PATTERN, args.account):
        problems.append("--account: not a Calypso account (0x followed by 40 hex digits)")
    return _print(
        args,
        problems,
        lambda prefix, password, version: consumer_user(
            prefix=prefix,
            account=args.account,
            name=args.name,
            password=password,
            redis_version=version,
        ),
    )


def _run_bridge(args: argparse.Namespace) -> int:
    """Print the ACL SETUSER line of the narrowest user the bridge itself needs: the keys
    under its prefix, the commands it sends (also from its Lua scripts), nothing else."""
    return _print(
        args,
        [],
        lambda prefix, password, version: bridge_user(
            prefix=prefix, name=args.name, password=password, redis_version=version
        ),
    )


def _print(args: argparse.Namespace, problems: list[str], build: Any) -> int:
    prefix = args.prefix or os.environ.get("BRIDGE_KEY_PREFIX") or "bridge"
    if not _PREFIX.fullmatch(prefix):
        problems.append("--prefix: may only use letters, digits and _ . : - (1-64)")
    version = _VERSION.fullmatch(args.redis_version)
    if version is None:
        problems.append("--redis-version: not MAJOR.MINOR (e.g. 7.2)")
    generated = args.password is None
    password = new_password() if generated else _given_password(args.password)
    try:
        # Built even when the prefix or version is wrong, so a bad name or password is
        # reported in the same run.
        user = build(
            prefix if _PREFIX.fullmatch(prefix) else "bridge",
            password,
            (int(version[1]), int(version[2])) if version else (7, 2),
        )
    except ConfigError as exc:  # the name or the password (never echoed)
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    print(user.aclfile_line() if args.aclfile else user.setuser(), flush=True)
    if generated:
        print(
            f"# password of Redis user {user.name} (shown once, kept nowhere; the line above "
            f"holds only its SHA-256):\n{password}\n"
            f"# connect with: {_connection_url(user.name, password)}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def _given_password(value: str) -> str:
    if value == "-":
        return sys.stdin.readline().rstrip("\r\n")
    return str(value)


def _connection_url(name: str, password: str) -> str:
    """The user's URL on the bridge's Redis (BRIDGE_REDIS_URL's scheme, host and port only:
    its own credentials are never shown), or on localhost."""
    scheme, where = "redis", "localhost:6379"
    configured = os.environ.get("BRIDGE_REDIS_URL", "")
    try:
        parts = urlsplit(configured)
        if parts.scheme in ("redis", "rediss", "redis+cluster") and parts.hostname:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            scheme, where = parts.scheme, f"{host}:{parts.port or 6379}"
    except ValueError:
        pass  # a malformed URL: the bridge itself reports it; show the default here
    return f"{scheme}://{quote(name, safe='')}:{quote(password, safe='')}@{where}/0"
