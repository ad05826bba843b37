"""The root of every exception the bridge raises on purpose, and the tree that hangs from it.

::

    BridgeError                     a failure the bridge describes; anything else is a bug
    ├── ConfigError                 settings that cannot run, one line per problem (config)
    │   └── RedisNotDurable         Redis would lose data and durability is required
    │                               (store.durability)
    ├── CalypsoError                an upstream call failed (calypso.errors draws this branch)
    │   ├── CalypsoRejected         Calypso answered 4xx with its error document
    │   │   ├── CalypsoNotFound
    │   │   └── CalypsoAuthFailed
    │   ├── CalypsoUnavailable      5xx, 429 or a transport failure left after the retries
    │   │   └── CalypsoRateLimited
    │   ├── CalypsoTimeout
    │   └── CalypsoProtocolError
    ├── UrlRefused                  a webhook URL the SSRF policy refuses (delivery.ssrf);
    │                               also a ValueError
    ├── AddressRefused              at connect time, a webhook host resolved to a refused
    │                               address (delivery.ssrf); also an OSError, so aiohttp
    │                               reports it as a connection failure
    ├── InvalidSecret               a webhook secret that is not ``whsec_`` and base64
    │                               (delivery.signing); also a ValueError
    ├── SecretUnreadable            a stored secret the key ring cannot open (sealing)
    ├── RecordContended             a subscription kept changing during a reseal
    │                               (delivery.subscriptions)
    ├── WriteNotReplicated          no replica acknowledged an intent in time, so the
    │                               upstream call was not made (store.replication)
    ├── SlotTooFar                  an account's next upstream slot is further away than
    │                               an API caller may wait (poller.ratelimit)
    ├── TransactionContended        a transaction kept changing under concurrent pollers
    │                               (poller.poll)
    ├── ExternalIdInFlight          another create with this externalId holds its lock
    │                               (customers)
    ├── IdempotencyKeyInFlight      a request with this Idempotency-Key is still running
    │                               (store.idempotency)
    ├── IdempotencyKeyReused        the key came first with a different request
    ├── EventNotFound               replay or redeliver of an unknown or trimmed event
    │                               (delivery.replay)
    ├── SubscriptionNotFound        no subscription has this id (delivery.replay)
    ├── SubscriptionDisabled        a test sent to a disabled subscription (delivery.replay)
    ├── PositionGone                events after a stream position were trimmed
    │                               (events.tail)
    └── ProblemError                the API refuses a request: status, code, title
                                    (api.problems)

Each class lives beside the code that raises it and carries its facts as attributes; the
API's problem documents are mapped from this tree in one place (``api.problems``).
Third-party failures are translated at one boundary each: httpx's inside the Calypso client,
aiohttp's into delivery outcomes. Redis errors are not translated: every caller treats them
alike (the storage is unavailable), so they keep redis-py's own tree. The sandbox simulates
Calypso and raises Calypso's errors, not the bridge's, so its exceptions are not here; nor
are the client kit's (``bridge.client``): its callers catch its own ``BridgeProblem`` and
``WebhookVerificationError``, whatever the server's tree.
"""

from __future__ import annotations

__all__ = ["BridgeError"]


class BridgeError(Exception):
    """A failure the bridge raised on purpose and can describe."""
