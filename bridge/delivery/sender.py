"""One signed POST of an event to a subscriber, and what came of it.

The delivery path uses aiohttp rather than httpx: measured on the machines this runs on,
httpx's own transport manages 0.6k-1.4k requests/s and falls with concurrency (a known
upstream issue, encode/httpx#3215) while aiohttp sustains several times that; httpx stays
where it serves, in the Calypso client. Requests follow no redirects, have bounded connect
and total timeouts, read at most a short prefix of the answer, and resolve hosts through
the SSRF policy's resolver, so a name that turns internal after subscription (DNS
rebinding) is refused at connect time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from bridge import __version__
from bridge.delivery import signing
from bridge.delivery.retry import Outcome, classify, parse_retry_after
from bridge.delivery.ssrf import AddressRefused, UrlPolicy

__all__ = ["SendResult", "Sender"]

RESPONSE_PREFIX_BYTES = 512
USER_AGENT = f"calypso-bridge/{__version__}"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    status: int | None
    latency_ms: float
    retry_after: float | None = None
    error: str | None = None
    response: str | None = None


class Sender:
    """Sends attempts over one aiohttp session, created on first use.

    Host names are resolved through the policy's guarded resolver, and only the answers it
    approved are kept in aiohttp's DNS cache, for ``dns_cache_seconds``: a name rebound to
    an internal address is refused at the first lookup after that.
    """

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        timeout: float,
        connect_timeout: float,
        dns_cache_seconds: int = 10,
    ) -> None:
        self._policy = policy
        self._dns_cache_seconds = dns_cache_seconds
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, connect=connect_timeout, sock_connect=connect_timeout
        )
        self._session: aiohttp.ClientSession | None = None
        # URLs whose IP-literal check passed; the policy never changes, so neither does that.
        self._cleared: set[str] = set()

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop, as aiohttp requires.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=0,
                resolver=self._policy.resolver(),
                ttl_dns_cache=self._dns_cache_seconds,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
                auto_decompress=False,
                trust_env=False,
            )
        return self._session

    async def send(
        self, url: str, event_id: str, body: bytes, secrets: Sequence[str]
    ) -> SendResult:
        headers = signing.headers(secrets, event_id, int(time.time()), body)
        started = time.perf_counter()
        try:
            if url not in self._cleared:
                await self._policy.check_target(url)
                if len(self._cleared) > 100_000:
                    self._cleared.clear()
                self._cleared.add(url)
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                prefix = await response.content.read(RESPONSE_PREFIX_BYTES)
                status = response.status
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now=time.time()
                )
        except TimeoutError:
            return self._failed(started, Outcome.TIMEOUT, "timed out")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self._failed(started, Outcome.ERROR, _describe(exc))
        return SendResult(
            outcome=classify(status),
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            retry_after=retry_after,
            response=prefix.decode("utf-8", "replace") or None,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Let the connector's transports finish closing before the loop ends.
            await asyncio.sleep(0)

    @staticmethod
    def _failed(started: float, outcome: Outcome, error: str) -> SendResult:
        latency = (time.perf_counter() - started) * 1000
        if outcome is Outcome.TIMEOUT:
            return SendResult(classify(None, timed_out=True), None, latency, error=error)
        return SendResult(classify(None, error=True), None, latency, error=error)


def _describe(exc: BaseException) -> str:
    """A short reason without URLs or headers (they may carry credentials); for an address
    the SSRF policy refused at connect time, the refusal itself (host and address)."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefused):
        exc = exc.os_error
    text = str(exc).split(" [", 1)[0]
    return f"{type(exc).__name__}: {text}"[:200]
