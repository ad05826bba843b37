"""Calypso's request signature: lowercase hex HMAC-SHA512 of the exact body bytes.

The same scheme signs Calypso's own webhooks, so the sandbox and the inbound-hint endpoint
verify with :func:`verify` too. Verification fails closed: anything that is not the exact
expected hex string is a mismatch, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign", "verify"]


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def verify(body: bytes, secret: str, signature: str | None) -> bool:
    if not signature:
        return False
    expected = sign(body, secret)
    # compare_digest on str refuses non-ASCII input with TypeError; bytes never raise.
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))
