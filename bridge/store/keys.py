"""Every Redis key the bridge uses, built in one place.

All keys share one prefix and one hash tag per Calypso account (``bridge:{0xab…}:…``), so on
Redis Cluster everything of an account lives in one slot and multi-key scripts and
transactions stay legal.
"""

from __future__ import annotations

import hashlib

__all__ = ["Keys"]


def _digest(value: str) -> str:
    # Caller-chosen strings (external ids, idempotency keys) are hashed so that any byte
    # sequence makes a short, safe key.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class Keys:
    def __init__(self, prefix: str, account: str) -> None:
        self.base = f"{prefix}:{{{account.lower()}}}"

    def idempotency(self, scope: str, key: str) -> str:
        return f"{self.base}:idem:{scope}:{_digest(key)}"

    def external_id_lock(self, external_id: str) -> str:
        return f"{self.base}:lock:external-id:{_digest(external_id)}"

    @property
    def watched(self) -> str:
        """Hash: customer id → JSON of when and why it is watched."""
        return f"{self.base}:watched"

    @property
    def poll_schedule(self) -> str:
        """Sorted set: customer id → unix ms when it is next due for a poll."""
        return f"{self.base}:poll:schedule"

    @property
    def events(self) -> str:
        return f"{self.base}:events"
