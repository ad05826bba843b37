"""Faults a test asks a bridge process to commit on purpose, at the moments that matter.

``BRIDGE_FAULT_AFTER_UPSTREAM`` names Calypso operations (``customer.create``,
``address.get``…) after whose answer the API process ends at once, before it writes
anything else: the crash that an intent (:mod:`bridge.intents`) exists to survive. The
setting is refused unless ``BRIDGE_FAULT_INJECTION=true`` (see :mod:`bridge.config`), so a
production deployment cannot carry it by accident.
"""

from __future__ import annotations

import os

__all__ = ["FAULT_EXIT", "FaultHook"]

# The exit status of a process ended by a fault, told apart from a crash of its own.
FAULT_EXIT = 70


class FaultHook:
    def __init__(self, after_upstream: frozenset[str] = frozenset()) -> None:
        self._after_upstream = after_upstream

    def after_upstream(self, operation: str) -> None:
        if operation in self._after_upstream:
            # os._exit, not an exception: no cleanup, no finally, as a SIGKILL or OOM kill.
            os._exit(FAULT_EXIT)
