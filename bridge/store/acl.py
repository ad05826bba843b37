"""Least-privilege Redis users: the ``ACL SETUSER`` lines ``bridge acl`` prints.

Two kinds of user (DESIGN §10):

- a **stream consumer** of one account: its event stream and nothing else, with only the
  commands a consumer group needs (XREADGROUP, XACK, XAUTOCLAIM, XPENDING, XINFO, XGROUP
  CREATE / CREATECONSUMER). It cannot write events (no XADD), remove them (no XDEL, XTRIM,
  DEL), read any other key (subscriptions and their secrets, other accounts' streams) or
  change the server.
- **the bridge** itself: every key under its prefix, and only the commands the bridge sends,
  directly or from its Lua scripts (Redis checks those too). No CONFIG (``CONFIG GET
  requirepass`` would reveal the admin password; the durability check falls back to INFO),
  no KEYS, SCAN, FLUSH*, DEBUG, SHUTDOWN, ACL, MODULE, pub/sub channels.

A line starts with ``reset``, so applying it again replaces the user rather than adding to
it. The password appears in it only as ``#<sha256>``: the line may be kept in configuration
management (or an aclfile, as ``user <name> …``) without revealing the password.

Redis ACLs name keys and commands, not consumer groups: a consumer user could read with any
group of its stream, the bridge's own ``bridge-dispatcher`` included (see docs/access.md).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from bridge.config import ConfigError
from bridge.store.keys import Keys

__all__ = [
    "BRIDGE_COMMANDS",
    "CONNECTION_COMMANDS",
    "CONSUMER_COMMANDS",
    "RedisUser",
    "bridge_user",
    "consumer_user",
    "new_password",
]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")

# What a redis-py client sends on its own: AUTH/HELLO (Redis never refuses those by ACL),
# PING (health checks), CLIENT SETINFO (redis-py ≥ 5 on every new connection; an error is
# ignored, but logged in ACL LOG), SELECT (a URL naming a database other than 0).
CONNECTION_COMMANDS: tuple[str, ...] = ("hello", "ping", "select", "client|setinfo")

CONSUMER_COMMANDS: tuple[str, ...] = (
    "xreadgroup",
    "xack",
    "xautoclaim",
    "xpending",
    "xinfo",
    "xgroup|create",
    "xgroup|createconsumer",
    "client|setname",  # lets a consumer name its connections (CLIENT LIST shows who reads)
)

# Found in the code (redis-py calls, bridge/store/lua/*.lua, redis-py's own Lock and cluster
# client); tests/ops/test_redis_acl.py runs the lifecycle as this user and reads ACL LOG.
BRIDGE_COMMANDS: tuple[str, ...] = (
    # strings: event index, idempotency records, inbound hints, locks, the rate limiter
    "get",
    "set",
    "del",
    "unlink",  # a cluster client's delete
    "exists",
    # hashes: subscriptions, watch list, poll state, leases, intents
    "hget",
    "hgetall",
    "hset",
    "hsetnx",
    "hdel",
    "hexists",
    "hkeys",
    "hvals",
    "hlen",
    # sets and sorted sets: schedules, due deliveries, disabled and failing subscriptions
    "sadd",
    "srem",
    "smembers",
    "zadd",
    "zrem",
    "zcard",
    "zrange",
    "zrangebyscore",
    "zscore",
    # lists: the poll wake-up
    "lpush",
    "ltrim",
    "blpop",
    # streams: events, attempts, the dispatcher's consumer group
    "xadd",
    "xrange",
    "xrevrange",
    "xlen",
    "xtrim",
    "xack",
    "xpending",
    "xreadgroup",
    "xautoclaim",
    "xgroup|create",
    "xinfo|groups",
    # the Server-Sent Events route: a blocking wait, and the gap check of events_follow.lua
    "xread",
    "xinfo|stream",
    # scripts, and the transactions of the watch list and subscriptions
    "evalsha",
    "script|load",
    "time",
    "multi",
    "exec",
    "discard",
    # replicated intents (WAIT, INFO replication); durability check (INFO persistence/memory)
    "wait",
    "info",
    # cluster mode: the slot table, key positions, redirections during a resharding
    "cluster|slots",
    "command",
    "asking",
    "readonly",
)


@dataclass(frozen=True)
class RedisUser:
    """A Redis ACL user: its name, the SHA-256 of its password, its key patterns and the
    commands it may run (everything else is denied)."""

    name: str
    password_sha256: str
    key_patterns: tuple[str, ...]
    commands: tuple[str, ...]

    def rules(self) -> list[str]:
        return [
            "reset",
            "on",
            f"#{self.password_sha256}",
            *(f"~{pattern}" for pattern in self.key_patterns),
            "resetchannels",
            "-@all",
            *(f"+{command}" for command in self.commands),
        ]

    def setuser(self) -> str:
        """The ``ACL SETUSER`` command (for redis-cli or an admin connection)."""
        return " ".join(["ACL", "SETUSER", self.name, *self.rules()])

    def aclfile_line(self) -> str:
        """The same user as a line of an aclfile (``user <name> <rules>``)."""
        return " ".join(["user", self.name, *self.rules()])

    def __repr__(self) -> str:
        return f"RedisUser(name={self.name!r}, keys={self.key_patterns!r})"


def new_password() -> str:
    """256 random bits, URL-safe so it goes into a ``redis://`` URL unescaped."""
    return secrets.token_urlsafe(32)


def consumer_user(
    *, prefix: str, account: str, name: str, password: str, redis_version: tuple[int, int]
) -> RedisUser:
    """A reader of ``account``'s event stream with a consumer group of its own."""
    stream = Keys(prefix, account).events
    return RedisUser(
        name=_checked_name(name),
        password_sha256=_sha256(password),
        key_patterns=(_glob_literal(stream),),
        commands=_for_version((*CONNECTION_COMMANDS, *CONSUMER_COMMANDS), redis_version),
    )


def bridge_user(
    *, prefix: str, name: str, password: str, redis_version: tuple[int, int]
) -> RedisUser:
    """The bridge's API and workers: every account's keys under ``prefix``."""
    return RedisUser(
        name=_checked_name(name),
        password_sha256=_sha256(password),
        key_patterns=(f"{_glob_literal(prefix)}:*",),
        commands=_for_version((*CONNECTION_COMMANDS, *BRIDGE_COMMANDS), redis_version),
    )


def _for_version(commands: tuple[str, ...], version: tuple[int, int]) -> tuple[str, ...]:
    # ACL SETUSER refuses the whole line over a command the server does not know, and CLIENT
    # SETINFO came with Redis 7.2 (before it, redis-py's call fails and is ignored anyway).
    if version < (7, 2):
        return tuple(c for c in commands if c != "client|setinfo")
    return commands


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError([f"--name: {name!r} is not a user name (1-64 of letters, digits, _ . -)"])
    return name


def _sha256(password: str) -> str:
    if len(password) < 16:
        raise ConfigError(["--password: needs at least 16 characters"])
    return hashlib.sha256(password.encode()).hexdigest()


def _glob_literal(text: str) -> str:
    """``text`` as an ACL key pattern matching only itself."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)
