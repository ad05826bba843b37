"""The SSRF policy: internal targets are refused at subscribe time and again at connect time.

No test leaves the machine: every name other than ``localhost`` and numeric spellings is
answered by a fake ``getaddrinfo`` on the running loop (what the subscribe-time check and
the delivery sender's resolver both ask), and real requests go to servers on loopback
addresses started by the test. The connect-time tests send through the delivery
:class:`~bridge.delivery.sender.Sender` itself, with its DNS cache.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from bridge.delivery.retry import Outcome
from bridge.delivery.sender import Sender, SendResult
from bridge.delivery.ssrf import AddressRefused, UrlPolicy, UrlRefused

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
DEV = UrlPolicy(allow_http=True, allowed_networks=LOOPBACK)
STRICT = UrlPolicy()
# http allowed, so that the address, not the scheme, is what gets refused.
PLAIN = UrlPolicy(allow_http=True)
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
# Names the real resolver may answer: /etc/hosts or pure number parsing, never the network.
_LOCAL_NAMES = {"localhost"}
_NUMERIC = re.compile(r"[0-9a-fx.:]+")

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
GetAddrInfo = Callable[..., Awaitable[list[Any]]]


@dataclass
class FakeDns:
    """Answers per name, one list of addresses per lookup; the last answer repeats."""

    real: GetAddrInfo
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def answer(self, name: str, *rounds: list[str]) -> None:
        self.answers[name] = list(rounds)

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        if name in self.answers:
            rounds = self.answers[name]
            addresses = rounds.pop(0) if len(rounds) > 1 else rounds[0]
            return [_info(a, int(port or 0)) for a in addresses if _family_ok(a, family)]
        if name in _LOCAL_NAMES:
            return await self.real(host, port, family=family, type=type, proto=proto, flags=flags)
        if _NUMERIC.fullmatch(name):
            numeric = flags | socket.AI_NUMERICHOST
            return await self.real(host, port, family=family, type=type, proto=proto, flags=numeric)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _family_ok(address: str, family: int) -> bool:
    version = ipaddress.ip_address(address).version
    return family in (0, socket.AF_INET if version == 4 else socket.AF_INET6)


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 4:
        return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
    return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    loop = asyncio.get_running_loop()
    fake = FakeDns(real=loop.getaddrinfo)
    monkeypatch.setattr(loop, "getaddrinfo", fake.getaddrinfo)
    return fake


@dataclass
class Hook:
    """A webhook receiver answering 204 on one address; ``hits`` counts its requests."""

    port: int
    hits: list[str] = field(default_factory=list)


@asynccontextmanager
async def serve_hook(host: str, port: int = 0) -> AsyncIterator[Hook]:
    hook = Hook(port)

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        hook.hits.append(request.headers["webhook-id"])
        # A new connection, hence a new host lookup (or a DNS cache hit), for every request.
        return web.Response(status=204, headers={"Connection": "close"})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    hook.port = int(runner.addresses[0][1])
    try:
        yield hook
    finally:
        await runner.cleanup()


@pytest.fixture
async def hook_server() -> AsyncIterator[Hook]:
    async with serve_hook("127.0.0.1") as hook:
        yield hook


async def deliver(policy: UrlPolicy, url: str) -> SendResult:
    """One delivery attempt through the bridge's own sender."""
    sender = Sender(policy, timeout=2.0, connect_timeout=1.0)
    try:
        return await sender.send(url, "evt_ssrf", b"{}", [SECRET])
    finally:
        await sender.aclose()


def refused(result: SendResult, reason: str) -> bool:
    return (result.outcome, result.status) == (Outcome.ERROR, None) and reason in (
        result.error or ""
    )


INTERNAL = [
    ("http://127.0.0.1", "loopback"),
    ("http://localhost", "loopback"),
    ("http://10.1.2.3", "private"),
    ("http://172.16.0.1", "private"),
    ("http://172.31.255.255", "private"),
    ("http://192.168.1.1", "private"),
    ("http://169.254.169.254/latest/meta-data", "metadata"),
    ("http://169.254.1.1", "link-local"),
    ("http://0.0.0.0", "unspecified"),
    ("http://0.1.2.3", "special-purpose"),
    ("http://[::]", "unspecified"),
    ("http://[::1]", "loopback"),
    ("http://[fc00::1]", "private"),
    ("http://[fd12:3456::1]", "private"),
    ("http://[::ffff:127.0.0.1]", "carrying 127.0.0.1, a loopback"),
    ("http://[::ffff:10.0.0.1]", "carrying 10.0.0.1, a private"),
    ("http://[::ffff:169.254.169.254]", "metadata"),
    ("http://[2002:7f00:1::1]", "carrying 127.0.0.1"),  # 6to4
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "192.0.2.45"),  # Teredo, doc client
    ("http://[64:ff9b::a00:1]", "carrying 10.0.0.1"),  # NAT64
    ("http://[::127.0.0.1]", "reserved"),  # deprecated IPv4-compatible
    ("http://[fe80::1]", "link-local"),
    ("http://[fec0::1]", "site-local"),
    ("http://224.0.0.1", "multicast"),
    ("http://[ff02::1]", "multicast"),
    ("http://100.64.0.1", "shared"),
    ("http://192.0.2.1", "special-purpose"),  # documentation
    ("http://[2001:db8::1]", "special-purpose"),  # documentation
    ("http://198.18.0.1", "special-purpose"),  # benchmarking
    ("http://240.0.0.1", "reserved"),
    ("http://255.255.255.255", "reserved"),
]


@pytest.mark.parametrize(("url", "reason"), INTERNAL)
async def test_internal_targets_are_refused_at_subscribe_time(
    dns: FakeDns, url: str, reason: str
) -> None:
    with pytest.raises(UrlRefused) as refused:
        await PLAIN.check_url(url)
    assert reason in refused.value.reason
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("url", ["http://2130706433", "http://0177.0.0.1", "http://0x7f.0.0.1"])
async def test_numeric_spellings_of_loopback_are_refused(dns: FakeDns, url: str) -> None:
    with pytest.raises(UrlRefused, match="not a canonical IP address"):
        await PLAIN.check_url(url)


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1"])
async def test_the_connect_time_resolver_also_refuses_numeric_spellings(
    dns: FakeDns, host: str
) -> None:
    # Defence in depth: should a client ever hand such a host to the resolver, the system
    # resolver turns it into 127.0.0.1 and the guard refuses that.
    resolver = PLAIN.resolver()
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1, a loopback address"):
        await resolver.resolve(host, 80)
    await resolver.close()


async def test_a_name_with_one_internal_answer_among_public_ones_is_refused(dns: FakeDns) -> None:
    dns.answer("mixed.test", [PUBLIC_V4, "10.0.0.7"])
    with pytest.raises(UrlRefused, match=r"mixed\.test resolves to 10\.0\.0\.7, a private"):
        await STRICT.check_url("https://mixed.test/hook")


async def test_a_name_that_does_not_resolve_is_refused(dns: FakeDns) -> None:
    with pytest.raises(UrlRefused, match="does not resolve"):
        await STRICT.check_url("https://nowhere.test/hook")


async def test_public_targets_pass_without_any_traffic(dns: FakeDns) -> None:
    assert await STRICT.check_url(f"https://{PUBLIC_V4}/hook") == f"https://{PUBLIC_V4}/hook"
    dns.answer("hooks.example.com", [PUBLIC_V4, PUBLIC_V6])
    url = "https://Hooks.Example.COM:8443/a/B?x=Y"
    assert await STRICT.check_url(url) == "https://hooks.example.com:8443/a/B?x=Y"
    assert dns.lookups == ["hooks.example.com"]


async def test_dns_rebinding_passes_subscription_but_the_sender_refuses_it_at_connect_time(
    dns: FakeDns, hook_server: Hook
) -> None:
    dns.answer("rebind.test", [PUBLIC_V4], ["127.0.0.1"])
    url = f"http://rebind.test:{hook_server.port}/hook"
    assert await PLAIN.check_url(url) == url
    result = await deliver(PLAIN, url)
    assert refused(result, "rebind.test resolves to 127.0.0.1, a loopback address"), result
    assert dns.lookups == ["rebind.test", "rebind.test"]
    assert hook_server.hits == []


async def test_the_senders_dns_cache_keeps_only_approved_answers(dns: FakeDns) -> None:
    """An approved answer is reused while the cache holds it; once it expires, the name
    is looked up again and a rebound internal answer is refused, every time."""
    only_one = UrlPolicy(allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    async with serve_hook("127.0.0.1") as approved, serve_hook("127.0.0.2", approved.port) as inner:
        dns.answer("hooks.test", ["127.0.0.1"], ["127.0.0.2"])
        url = f"http://hooks.test:{approved.port}/hook"
        sender = Sender(only_one, timeout=2.0, connect_timeout=1.0, dns_cache_seconds=1)
        try:
            first = await sender.send(url, "evt_1", b"{}", [SECRET])
            second = await sender.send(url, "evt_2", b"{}", [SECRET])
            assert (first.status, second.status) == (204, 204)
            assert dns.lookups == ["hooks.test"]  # the second came from the cache
            await asyncio.sleep(1.1)  # the cache's time to live must run out
            third = await sender.send(url, "evt_3", b"{}", [SECRET])
            fourth = await sender.send(url, "evt_4", b"{}", [SECRET])
        finally:
            await sender.aclose()
    for result in (third, fourth):
        assert refused(result, "hooks.test resolves to 127.0.0.2, a loopback address"), result
    assert dns.lookups == ["hooks.test"] * 3  # a refused answer is never cached
    assert (approved.hits, inner.hits) == (["evt_1", "evt_2"], [])


async def test_the_resolver_refuses_a_rebound_answer_directly(dns: FakeDns) -> None:
    dns.answer("rebind.test", [PUBLIC_V4], ["169.254.169.254"])
    await STRICT.check_url("https://rebind.test/")
    resolver = STRICT.resolver()
    with pytest.raises(AddressRefused, match="cloud metadata") as refused:
        await resolver.resolve("rebind.test", 443)
    assert isinstance(refused.value, OSError)
    await resolver.close()


async def test_the_sender_refuses_loopback_without_the_allow_list(
    dns: FakeDns, hook_server: Hook
) -> None:
    dns.answer("receiver.test", ["127.0.0.1"])
    for name in ("localhost", "receiver.test"):
        result = await deliver(PLAIN, f"http://{name}:{hook_server.port}/hook")
        assert refused(result, f"refused: {name} resolves to 127.0.0.1, a loopback"), result
    for literal in ("127.0.0.1", "[::ffff:127.0.0.1]"):
        result = await deliver(PLAIN, f"http://{literal}:{hook_server.port}/hook")
        assert refused(result, "127.0.0.1, a loopback address"), result
    assert hook_server.hits == []


async def test_the_sender_reaches_loopback_with_the_allow_list(
    dns: FakeDns, hook_server: Hook
) -> None:
    dns.answer("receiver.test", ["127.0.0.1"])
    for host in ("localhost", "receiver.test", "127.0.0.1"):
        url = f"http://{host}:{hook_server.port}/hook"
        assert await DEV.check_url(url) == url
        result = await deliver(DEV, url)
        assert (result.outcome, result.status) == (Outcome.DELIVERED, 204), result
    assert len(hook_server.hits) == 3


async def test_aiohttp_skips_the_resolver_for_ip_literals_so_the_sender_checks_them(
    dns: FakeDns, hook_server: Hook
) -> None:
    url = f"http://127.0.0.1:{hook_server.port}/hook"
    # aiohttp never asks the guarded resolver about a literal: the request goes through...
    connector = aiohttp.TCPConnector(resolver=PLAIN.resolver())
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=b"{}", headers={"webhook-id": "evt_raw"}) as response,
    ):
        assert response.status == 204
    # ...which is why the sender awaits check_target before a request to a new URL.
    with pytest.raises(UrlRefused, match="loopback"):
        await PLAIN.check_target(url)
    with pytest.raises(UrlRefused, match="loopback"):
        await PLAIN.check_target(f"http://[::ffff:127.0.0.1]:{hook_server.port}/hook")
    await DEV.check_target(url)
    assert refused(await deliver(PLAIN, url), "the host is 127.0.0.1, a loopback address")
    assert dns.lookups == []
    assert hook_server.hits == ["evt_raw"]


async def test_check_target_leaves_hostnames_to_the_resolver(dns: FakeDns) -> None:
    await PLAIN.check_target("http://rebind.test/")
    assert dns.lookups == []
    with pytest.raises(UrlRefused, match="scheme"):
        await STRICT.check_target("http://rebind.test/")


async def test_the_allow_list_opens_exactly_its_networks(dns: FakeDns) -> None:
    assert await DEV.check_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert await DEV.check_url("http://[::ffff:127.0.0.1]:8080/") == "http://[::ffff:7f00:1]:8080/"
    with pytest.raises(UrlRefused, match="private"):
        await DEV.check_url("http://10.0.0.1:8080")
    with pytest.raises(UrlRefused, match="loopback"):
        await DEV.check_url("http://[::1]:8080")
    with pytest.raises(UrlRefused, match="scheme 'http'"):
        await UrlPolicy(allowed_networks=LOOPBACK).check_url("http://127.0.0.1:8080")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x", "scheme 'ftp'"),
        ("http://example.com", "scheme 'http' is not allowed; use https"),
        ("example.com/hook", "scheme 'none'"),
        ("", "scheme"),
        ("https://user:pw@example.com", "credentials"),
        ("https://user@example.com", "credentials"),
        ("https://evil.test\\@127.0.0.1/", "credentials"),
        ("https:///hook", "no host"),
        ("https://:443/hook", "no host"),
        ("https://", "no host"),
        ("https://example.com:0/", "port 0"),
        ("https://example.com:70000/", "cannot be parsed"),
        ("https://example.com:https/", "cannot be parsed"),
        ("https://[::1/", "cannot be parsed"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\nHost: evil", "whitespace"),
        ("https://" + "a" * 2040 + ".com/", "longer than 2048"),
        ("https://bücher.example/", "xn--"),
        ("https://under_score-.example/", "not a valid host name"),
        ("https://a..b/", "not a valid host name"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://127.1/", "canonical"),
        ("https://1.2.3.4.5/", "canonical"),
    ],
)
def test_malformed_urls_are_refused_before_any_lookup(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        STRICT.check_url_syntax(url)
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTPS://Example.COM/Path?Q=1#F", "https://example.com/Path?Q=1#F"),
        ("https://example.com:443", "https://example.com:443"),
        ("https://example.com.:8443/", "https://example.com.:8443/"),
        ("https://[2606:4700:0:0::1]/x", "https://[2606:4700::1]/x"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
        ("https://hooks_1.example/", "https://hooks_1.example/"),
    ],
)
def test_accepted_urls_come_back_normalised(url: str, normalised: str) -> None:
    assert STRICT.check_url_syntax(url) == normalised


def test_http_is_accepted_only_when_allowed() -> None:
    assert PLAIN.check_url_syntax("HTTP://Example.com/") == "http://example.com/"


@given(st.integers(0, 2**24 - 1))
def test_every_address_in_ten_slash_eight_is_refused_even_when_mapped(offset: int) -> None:
    ip = ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.0")) + offset)
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert not STRICT.address_allowed(ip)
    assert not STRICT.address_allowed(mapped)
    assert STRICT.refusal(mapped) == f"{mapped} (carrying {ip}, a private address)"


@given(st.ip_addresses(v=4))
def test_a_mapped_address_is_judged_like_the_ipv4_address_it_carries(
    ip: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert STRICT.address_allowed(mapped) == STRICT.address_allowed(ip)
    assert DEV.address_allowed(mapped) == DEV.address_allowed(ip)


@pytest.mark.parametrize("ip", [PUBLIC_V4, PUBLIC_V6, "8.8.8.8", "2002:5db8:d822::1"])
def test_global_unicast_addresses_are_allowed(ip: str) -> None:
    assert STRICT.address_allowed(ipaddress.ip_address(ip))


def test_a_policy_is_built_from_settings() -> None:
    from bridge.config import Settings
    from bridge.sealing import KeyRing
    from tests.support.config import SECRETS_KEYS

    settings = Settings(
        calypso_account="0x" + "1a" * 20,
        calypso_api_key="k",
        calypso_api_secret="s",
        api_tokens=("token-123",),
        secrets_keys=KeyRing.parse(SECRETS_KEYS),
        webhook_allow_http=True,
        webhook_allowed_networks=LOOPBACK,
    )
    assert UrlPolicy.from_settings(settings) == DEV
