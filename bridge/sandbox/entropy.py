"""One source of randomness for everything the sandbox invents (ids, addresses, hashes).

With a seed the sandbox is reproducible run to run; without one it draws from ``secrets`` so
that two sandboxes never hand out the same address.
"""

from __future__ import annotations

import random
import secrets
import uuid

__all__ = ["Entropy"]


class Entropy:
    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else None

    def random_bytes(self, count: int) -> bytes:
        if self._rng is None:
            return secrets.token_bytes(count)
        return self._rng.randbytes(count)

    def uuid4(self) -> uuid.UUID:
        # uuid.UUID(version=4) stamps the version and variant bits onto the random bytes.
        return uuid.UUID(bytes=self.random_bytes(16), version=4)
