"""The shape of one API operation, shared by the sync and the async client.

An operation is described once (:mod:`bridge.client.operations`): its method and path
template, and a function that turns the caller's arguments into a :class:`Request` (path
values, query, JSON body, how to decode the answer). :class:`operation` and :class:`pages`
are descriptors: on a :class:`~bridge.client.http.BridgeClient` they are plain methods
returning the result, on an :class:`~bridge.client.http.AsyncBridgeClient` coroutines, with
the same typed signature either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import msgspec

if TYPE_CHECKING:
    from bridge.client.http import AsyncBridgeClient, BridgeClient

__all__ = ["Operation", "Page", "Pages", "Request", "Route", "as_json", "operation", "pages"]

T = TypeVar("T")
P = ParamSpec("P")

Query = Mapping[str, str | int | Sequence[str] | None]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str

    def url(self, values: Mapping[str, str]) -> str:
        return self.path.format_map({k: _segment(v) for k, v in values.items()})


@dataclass(frozen=True, slots=True)
class Request(Generic[T]):
    """What one call sends, and how its answer becomes a ``T``."""

    decode: Callable[[bytes], T]
    path: Mapping[str, str] = field(default_factory=dict)
    query: Query = field(default_factory=dict)
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # A create: sent with an Idempotency-Key (the caller's, or one generated per call) so
    # a retry after a lost answer cannot create twice.
    creates: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items of one page and the position of the next (None on the last)."""

    items: list[T]
    next: str | None


def operation(method: str, path: str) -> Callable[[Callable[P, Request[T]]], Operation[P, T]]:
    """Declare a function building a :class:`Request` as the operation of this route."""

    def declare(build: Callable[P, Request[T]]) -> Operation[P, T]:
        return Operation(Route(method, path), build)

    return declare


def pages(
    method: str, path: str
) -> Callable[[Callable[Concatenate[str | None, P], Request[Page[T]]]], Pages[P, T]]:
    """Declare a function building one page's :class:`Request` (its first argument is the
    position of the page) as the walk over every page of this route."""

    def declare(build: Callable[Concatenate[str | None, P], Request[Page[T]]]) -> Pages[P, T]:
        return Pages(Route(method, path), build)

    return declare


class Operation(Generic[P, T]):
    """One route: ``client.name(...)`` sends it and returns its decoded answer."""

    def __init__(self, route: Route, build: Callable[P, Request[T]]) -> None:
        self.route = route
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Operation[P, T]: ...
    @overload
    def __get__(self, obj: BridgeClient, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: AsyncBridgeClient, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        route, build, send = self.route, self.build, obj._send

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return send(route, build(*args, **kwargs))

        bound.__doc__ = self.__doc__
        return bound


class Pages(Generic[P, T]):
    """One paged route: ``client.iter_name(...)`` yields every item, page after page."""

    def __init__(
        self, route: Route, build: Callable[Concatenate[str | None, P], Request[Page[T]]]
    ) -> None:
        self.route = route
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Pages[P, T]: ...
    @overload
    def __get__(self, obj: BridgeClient, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(
        self, obj: AsyncBridgeClient, owner: type[Any]
    ) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        route, build, walk = self.route, self.build, obj._walk

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return walk(route, lambda position: build(position, *args, **kwargs))

        bound.__doc__ = self.__doc__
        return bound


def as_json(kind: type[T]) -> Callable[[bytes], T]:
    decoder = msgspec.json.Decoder(kind)
    return decoder.decode


def _segment(value: str) -> str:
    # Ids are tokens of letters, digits and a few marks; quoting keeps a stray "/" or "?"
    # from reaching another route.
    return quote(str(value), safe="")
