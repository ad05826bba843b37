"""Human durations for configuration: ``500ms``, ``2s``, ``5m``, ``1h30m``, ``7d``."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# [0-9], not \d: Python's \d also matches non-ASCII digits.
_PART = re.compile(r"([0-9]{1,15}(?:\.[0-9]{1,9})?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:[0-9]{1,15}(?:\.[0-9]{1,9})?(?:ms|s|m|h|d))+")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; a bare ``0`` is allowed, any other number needs a unit."""
    value = text.strip().lower()
    if value == "0":
        return 0.0
    if not _WHOLE.fullmatch(value):
        raise ValueError(f"{text!r} is not a duration (examples: 500ms, 2s, 5m, 1h30m, 7d)")
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, so configuration echoes read like their input."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"
