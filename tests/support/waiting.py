"""Waiting on what a test can observe, never on the clock.

A test that sleeps "long enough" for something to happen is a race that has not failed yet:
these helpers poll an observable state (an arrival count past the earlier ones, an empty
lease hash, a dead letter present) and give up with the last value seen after a bound.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

__all__ = ["eventually", "eventually_sync"]

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T], *, within: float = ..., interval: float = ..., what: str = ...
) -> T: ...


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    *,
    within: float = 10.0,
    interval: float = 0.01,
    what: str = "",
) -> T:
    """The first truthy value ``probe`` returns (sync or async); fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        value: T = await found if inspect.isawaitable(found) else found
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what or probe!r}; last {value!r}")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T], *, within: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """:func:`eventually` for code with no event loop (fixtures starting servers)."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what or probe!r}; last {value!r}")
        time.sleep(interval)
