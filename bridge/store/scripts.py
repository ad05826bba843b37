"""Every Lua script of the bridge: read from ``bridge/store/lua/`` once, called by SHA.

One file per script, named for what it does. Each begins with a header of ``--`` lines: a
first line saying what it does, then ``KEYS:``, ``ARGV:``, ``Returns:`` and ``Atomic:`` (the
one thing it guarantees, i.e. why it is a script and not separate commands), and optionally
``Needs:`` naming snippets (``lua/_<name>.lua``: shared local functions, such as the lease
token's) that are put in front of it. Every key a script touches comes in KEYS and shares
the account's hash tag, so each runs unchanged on Redis Cluster.

Calls go out as EVALSHA. A server that does not know a script (restarted, failed over,
flushed) answers NOSCRIPT; the script is then loaded (SCRIPT LOAD, on every primary of a
cluster) and the refused calls sent again, once.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Generic, TypeAlias, TypeVar, cast

from redis.exceptions import NoScriptError
from redis.typing import EncodableT, KeyT

from bridge.store.connection import RedisClient

__all__ = [
    "DELIVERY_CLAIM",
    "DELIVERY_DEAD_EXPIRE",
    "DELIVERY_ENQUEUE",
    "DELIVERY_FAN_OUT",
    "DELIVERY_HAND_BACK",
    "DELIVERY_RETIRE",
    "DELIVERY_SETTLE",
    "EVENTS_APPEND",
    "EVENTS_FOLLOW",
    "EVENTS_RECORD",
    "IDEMPOTENCY_CLAIM",
    "IDEMPOTENCY_RELEASE",
    "POLL_CLAIM",
    "POLL_COMPLETE",
    "POLL_POKE",
    "POLL_RENEW",
    "RATE_ACQUIRE",
    "RATE_PAUSE",
    "SUBSCRIPTION_SWAP",
    "Call",
    "Lua",
    "Script",
    "Source",
    "load_all",
    "names",
    "snippet",
    "source",
]

R = TypeVar("R")
Call: TypeAlias = tuple[Sequence[KeyT], Sequence[EncodableT]]
"""One call of a script: its KEYS and its ARGV."""

_HOME = resources.files("bridge.store") / "lua"
_NEEDS = re.compile(r"^-- Needs: *(.+)$", re.MULTILINE)


@dataclass(frozen=True)  # no slots: ``Lua[int](...)`` records its type argument on the instance
class Lua(Generic[R]):
    """A script of the home by file name (without ``.lua``); ``R`` is what Redis answers."""

    name: str


# The catalogue: every file of bridge/store/lua/ and the shape of its answer (a Lua table
# arrives as a list; the fixed-size ones are written as the tuples they unpack like).
DELIVERY_CLAIM: Final = Lua[list[tuple[bytes, bytes, bytes, bytes | None]]]("delivery_claim")
DELIVERY_DEAD_EXPIRE: Final = Lua[int]("delivery_dead_expire")
DELIVERY_ENQUEUE: Final = Lua[int]("delivery_enqueue")
DELIVERY_FAN_OUT: Final = Lua[int]("delivery_fan_out")
DELIVERY_HAND_BACK: Final = Lua[int]("delivery_hand_back")
DELIVERY_RETIRE: Final = Lua[int]("delivery_retire")
DELIVERY_SETTLE: Final = Lua[list[int]]("delivery_settle")
EVENTS_APPEND: Final = Lua[int]("events_append")
EVENTS_FOLLOW: Final = Lua[tuple[int, bytes, list[tuple[bytes, list[bytes]]]]]("events_follow")
EVENTS_RECORD: Final = Lua[tuple[int, bytes]]("events_record")
IDEMPOTENCY_CLAIM: Final = Lua[bytes | None]("idempotency_claim")
IDEMPOTENCY_RELEASE: Final = Lua[int]("idempotency_release")
POLL_CLAIM: Final = Lua[list[bytes]]("poll_claim")
POLL_COMPLETE: Final = Lua[int]("poll_complete")
POLL_POKE: Final = Lua[int]("poll_poke")
POLL_RENEW: Final = Lua[bytes | None]("poll_renew")
RATE_ACQUIRE: Final = Lua[int]("rate_acquire")
RATE_BOOK: Final = Lua[int]("rate_book")
RATE_PAUSE: Final = Lua[int]("rate_pause")
SUBSCRIPTION_SWAP: Final = Lua[int]("subscription_swap")


@dataclass(frozen=True, slots=True)
class Source:
    """A script as sent to Redis: its snippets first, then its own file."""

    name: str
    text: str
    sha: str


@functools.cache
def snippet(name: str) -> str:
    """The text of the snippet ``lua/_<name>.lua``."""
    return (_HOME / f"_{name}.lua").read_text(encoding="utf-8")


@functools.cache
def source(name: str) -> Source:
    """The script ``lua/<name>.lua`` with the snippets its header asks for; read once."""
    own = (_HOME / f"{name}.lua").read_text(encoding="utf-8")
    needs = [n.strip() for line in _NEEDS.findall(own) for n in line.split(",")]
    text = "".join(snippet(n) for n in needs) + own
    return Source(name, text, hashlib.sha1(text.encode()).hexdigest())  # noqa: S324 - Redis's script id


def names() -> list[str]:
    """Every script file of the home (snippets, ``_<name>.lua``, excluded), sorted."""
    found = (
        f.name
        for f in _HOME.iterdir()
        if f.is_file() and f.name.endswith(".lua") and not f.name.startswith("_")
    )
    return sorted(name.removesuffix(".lua") for name in found)


class Script(Generic[R]):
    """One script bound to one client: ``await script(keys, args)`` for one call,
    ``await script.many(calls)`` for many calls in one round trip."""

    def __init__(self, redis: RedisClient, lua: Lua[R]) -> None:
        self._redis = redis
        self._source = source(lua.name)

    @property
    def name(self) -> str:
        return self._source.name

    @property
    def sha(self) -> str:
        return self._source.sha

    async def load(self) -> None:
        """Make the server know the script (every primary of a cluster)."""
        await self._redis.script_load(self._source.text)

    async def __call__(self, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> R:
        try:
            return cast(R, await self._evalsha(keys, args))
        except NoScriptError:
            await self.load()
            return cast(R, await self._evalsha(keys, args))

    async def many(self, calls: Sequence[Call]) -> list[R]:
        """Run every call in one pipelined round trip (not a transaction: each call is
        atomic on its own), answers in order; the first error of any call is raised."""
        answers: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            got = await self._pipelined([calls[i] for i in todo])
            refused = [i for i, a in zip(todo, got, strict=True) if isinstance(a, NoScriptError)]
            for i, answer in zip(todo, got, strict=True):
                answers[i] = answer
            if not refused or attempt:
                break
            # Only the refused calls ran nothing; the others must not run twice.
            await self.load()
            todo = refused
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return cast(list[R], answers)

    async def _evalsha(self, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any:
        return await self._redis.evalsha(self.sha, len(keys), *keys, *args)

    async def _pipelined(self, calls: Sequence[Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                # What ``pipe.evalsha`` sends, spelt out: a cluster pipeline refuses the method
                # (its keys could span slots; ours share the account's hash tag).
                pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)


async def load_all(redis: RedisClient) -> list[str]:
    """Load every script of the home (at start-up, or to check they compile); their SHAs."""
    loaded = []
    for name in names():
        script = Script(redis, Lua[Any](name))
        await script.load()
        loaded.append(script.sha)
    return loaded
