"""Which webhook URLs the bridge may call: no loopback, private, link-local or metadata targets.

A subscriber chooses the URL, so without this check the bridge would fetch anything inside
our network on an attacker's behalf (SSRF). The policy is applied twice:

* at subscribe time, :meth:`UrlPolicy.check_url` checks the syntax and every address the
  host resolves to, so the caller gets a clear refusal;
* at connect time, the delivery client resolves through :meth:`UrlPolicy.resolver`, which
  refuses the addresses it is about to connect to. A name that resolved to a public address
  at subscribe time and to ``127.0.0.1`` later (DNS rebinding) is caught here, and because
  aiohttp connects to exactly the addresses the resolver returned, there is no window between
  check and use. aiohttp never calls a resolver for IP-literal hosts, so the sender also
  awaits :meth:`UrlPolicy.check_target` before every request.

The delivery client must not follow redirects and must not use an environment proxy
(aiohttp's ``trust_env=False``, the default): either would connect somewhere unchecked.

Operators open holes explicitly with ``allowed_networks`` (development and tests use
``127.0.0.0/8``); ``http`` is refused unless ``allow_http`` is set.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bridge.errors import BridgeError

if TYPE_CHECKING:
    from bridge.config import Settings

__all__ = ["Address", "AddressRefused", "Network", "UrlPolicy", "UrlRefused"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_METADATA = ipaddress.ip_address("169.254.169.254")
# NAT64 (RFC 6052): on an IPv6-only network DNS64 answers 64:ff9b::a.b.c.d for IPv4 hosts,
# and the gateway forwards to a.b.c.d, so these are judged by the IPv4 address inside.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# WHATWG's "ends in a number": such a host is an IPv4 address in some spelling (2130706433,
# 0177.0.0.1, 0x7f.1); parsers disagree on those, so only the canonical dotted form passes.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class UrlRefused(BridgeError, ValueError):
    """A webhook URL the policy refuses; ``reason`` is a sentence for the subscriber."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(reason)
        self.url = url
        self.reason = reason


class AddressRefused(BridgeError, OSError):
    """Raised by the connect-time resolver; an ``OSError`` so aiohttp reports it as a
    connection failure (``ClientConnectorDNSError``, whose ``os_error`` is this)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"refused: {host} resolves to {reason}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool = False
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            allow_http=settings.webhook_allow_http,
            allowed_networks=settings.webhook_allowed_networks,
        )

    def address_allowed(self, ip: Address) -> bool:
        """Whether the bridge may connect to ``ip`` (see :meth:`refusal`)."""
        return self.refusal(ip) is None

    def refusal(self, ip: Address) -> str | None:
        """Why ``ip`` is refused, e.g. ``"127.0.0.1, a loopback address"``; None if allowed.

        The allow-list wins. Otherwise only globally routable unicast passes. An IPv6 address
        that carries an IPv4 address (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64) is
        judged by that IPv4 address, since that is where the packets end up.
        """
        if self._listed(ip):
            return None
        embedded = _embedded_ipv4(ip)
        if embedded:
            for inner in embedded:
                if not self._listed(inner) and (reason := _not_public(inner)):
                    return f"{ip} (carrying {inner}, {reason})"
            return None
        reason = _not_public(ip)
        return None if reason is None else f"{ip}, {reason}"

    def _listed(self, ip: Address) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def check_url_syntax(self, url: str) -> str:
        """The URL normalised (scheme and host lowercased), or :class:`UrlRefused`.

        https only (http if allowed), a host, no ``user:password@``, a port in 1-65535, at
        most 2048 characters, a DNS name or canonical IP literal. No network traffic.
        """
        if len(url) > MAX_URL_LENGTH:
            raise UrlRefused(url, f"the URL is longer than {MAX_URL_LENGTH} characters")
        if any(c <= " " or c == "\x7f" for c in url):
            raise UrlRefused(url, "the URL contains whitespace or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlRefused(url, f"the URL cannot be parsed ({exc})") from None
        scheme = parts.scheme.lower()
        allowed = ("https", "http") if self.allow_http else ("https",)
        if scheme not in allowed:
            shown = scheme or "none"
            raise UrlRefused(url, f"scheme {shown!r} is not allowed; use {' or '.join(allowed)}")
        if "@" in parts.netloc:
            raise UrlRefused(url, "credentials in the URL (user:password@) are not allowed")
        host = parts.hostname
        if not host:
            raise UrlRefused(url, "the URL has no host")
        if port == 0:
            raise UrlRefused(url, "port 0 is not a TCP port (1-65535)")
        netloc = _normal_host(url, host)
        if port is not None:
            netloc = f"{netloc}:{port}"
        return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))

    async def check_url(self, url: str) -> str:
        """Subscribe-time check: syntax, then every address the host resolves to.

        Resolution uses the system resolver (``/etc/hosts``, search domains, numeric forms)
        just like the delivery client. Returns the normalised URL or raises
        :class:`UrlRefused`.
        """
        normalised = self.check_url_syntax(url)
        parts = urlsplit(normalised)
        host = parts.hostname or ""
        literal = _ip_literal(host)
        if literal is not None:
            if (reason := self.refusal(literal)) is not None:
                raise UrlRefused(url, f"the host is {reason}")
            return normalised
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        for ip in await _resolve(url, host, port):
            if (reason := self.refusal(ip)) is not None:
                raise UrlRefused(url, f"{host} resolves to {reason}")
        return normalised

    async def check_target(self, url: str) -> None:
        """Connect-time check the sender awaits right before each request.

        It covers what :meth:`resolver` cannot see: aiohttp connects to IP-literal hosts
        without asking the resolver, so their address is checked here. Hostnames are left to
        the resolver, which sees the very addresses aiohttp connects to. Raises
        :class:`UrlRefused`; async so that call sites need not change if it ever resolves.
        """
        host = urlsplit(self.check_url_syntax(url)).hostname or ""
        literal = _ip_literal(host)
        if literal is not None and (reason := self.refusal(literal)) is not None:
            raise UrlRefused(url, f"the host is {reason}")

    def resolver(self, inner: AbstractResolver | None = None) -> AbstractResolver:
        """An aiohttp resolver that refuses disallowed addresses at connect time.

        Pass it as ``aiohttp.TCPConnector(resolver=policy.resolver())``; call it inside the
        running loop. ``inner`` defaults to aiohttp's ``ThreadedResolver``: the system
        resolver, so delivery sees the same answers as :meth:`check_url`.
        """
        return _GuardedResolver(self, inner or aiohttp.ThreadedResolver())


class _GuardedResolver(AbstractResolver):
    def __init__(self, policy: UrlPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                ip = ipaddress.ip_address(result["host"])
            except ValueError:
                raise AddressRefused(host, f"{result['host']!r}, not an address") from None
            if (reason := self._policy.refusal(ip)) is not None:
                # All or nothing: one bad answer means the name is not trustworthy.
                raise AddressRefused(host, reason)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _embedded_ipv4(ip: Address) -> tuple[ipaddress.IPv4Address, ...]:
    if isinstance(ip, ipaddress.IPv4Address):
        return ()
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client): traffic passes through both
    if ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _not_public(ip: Address) -> str | None:
    """What kind of non-public address ``ip`` is, or None for global unicast."""
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip == _METADATA:
        return "the cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if any(ip.version == net.version and ip in net for net in _PRIVATE):
        return "a private address"
    if ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    # is_reserved catches IPv4-compatible ::a.b.c.d and 240/4, which 3.11 calls global;
    # site-local fec0::/10 is deprecated but still routed inside some networks.
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved or special-purpose address"
    return None


def _ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(url: str, host: str) -> str:
    """``host`` as it goes into the normalised URL; refuses what is neither name nor IP."""
    literal = _ip_literal(host)
    if isinstance(literal, ipaddress.IPv6Address):
        if literal.scope_id:
            raise UrlRefused(url, "IPv6 zone identifiers are not allowed")
        return f"[{literal}]"
    if literal is not None:
        return str(literal)
    name = host.removesuffix(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise UrlRefused(url, f"{host!r} is not a canonical IP address (use a.b.c.d)")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused(
            url, f"{host!r} is not a valid host name (write international names as xn--)"
        )
    return host


async def _resolve(url: str, host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRefused(url, f"{host} does not resolve") from None
    addresses: list[Address] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        literal = _ip_literal(str(sockaddr[0]))
        if literal is None:
            raise UrlRefused(url, f"{host} resolves to {sockaddr[0]!r}, not an address")
        addresses.append(literal)
    if not addresses:
        raise UrlRefused(url, f"{host} does not resolve")
    return addresses
