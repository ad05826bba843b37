"""The bridge's exceptions form one tree under BridgeError, drawn true in bridge.errors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from litestar import get
from litestar.testing import create_test_client

import bridge
from bridge import errors
from bridge.api.problems import ProblemError, exception_handlers
from bridge.calypso.errors import CalypsoNotFound
from bridge.config import ConfigError
from bridge.delivery.ssrf import UrlRefused
from bridge.errors import BridgeError
from bridge.poller.poll import TransactionContended


def bridge_exceptions() -> set[type[BaseException]]:
    """Every exception class defined in the bridge; the sandbox simulates Calypso, and the
    client kit is its callers' (its own tree), so not them."""
    found: set[type[BaseException]] = set()
    for module_info in pkgutil.walk_packages(bridge.__path__, "bridge."):
        name = module_info.name
        if name == "bridge.__main__" or name.startswith(("bridge.sandbox", "bridge.client")):
            continue
        module = importlib.import_module(name)
        for _, member in inspect.getmembers(module, inspect.isclass):
            if issubclass(member, BaseException) and member.__module__ == name:
                found.add(member)
    return found


def test_every_exception_of_the_bridge_hangs_from_bridge_error() -> None:
    strays = {c.__qualname__ for c in bridge_exceptions() if not issubclass(c, BridgeError)}
    assert not strays


def drawn_tree() -> dict[str, str | None]:
    """Each class drawn in bridge.errors' docstring, with the class drawn as its parent."""
    assert errors.__doc__ is not None
    drawing = errors.__doc__.split("::", 1)[1].split("\n\n")[1]
    parents: dict[str, str | None] = {}
    open_branches: list[tuple[int, str]] = []  # (column, name), shallowest first
    for line in drawing.splitlines():
        found = re.match(r"[\s│├└─]*([A-Z][A-Za-z]+)\b", line)
        if found is None:
            continue  # a description running onto the next line
        column, name = found.start(1), found.group(1)
        while open_branches and open_branches[-1][0] >= column:
            open_branches.pop()
        parents[name] = open_branches[-1][1] if open_branches else None
        open_branches.append((column, name))
    return parents


def test_the_drawn_tree_is_the_class_tree() -> None:
    classes = {c.__name__: c for c in bridge_exceptions()}
    drawn = drawn_tree()
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        if parent is not None:
            assert classes[name].__bases__[0] is classes[parent], name


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            ProblemError(409, "subscription_disabled", "Enable it first"),
            409,
            "subscription_disabled",
        ),
        (UrlRefused("http://10.0.0.1/", "the host is a private address"), 422, "url_refused"),
        (
            CalypsoNotFound("object not found", operation="getCustomer", status=400),
            404,
            "not_found",
        ),
        (ConfigError(["BRIDGE_X: not set"]), 500, "internal_error"),
        (TransactionContended("6a1f0c7e-52b2-4c1c-9f43-1f1f5f0f7d2a"), 500, "internal_error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_each_branch_of_the_tree_maps_to_its_problem(
    error: BridgeError, status: int, code: str
) -> None:
    @get("/fail", sync_to_thread=False)
    def fail() -> None:
        raise error

    with create_test_client([fail], exception_handlers=exception_handlers) as client:
        answer = client.get("/fail")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    assert "Traceback" not in answer.text
