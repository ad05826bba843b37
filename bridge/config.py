"""All configuration, read once from the environment into one frozen ``Settings``.

Secrets may come from a file named by the same variable with ``_FILE`` appended (Docker and
Kubernetes secrets). Every problem is collected before failing, so an operator fixes a bad
deployment in one round: :class:`ConfigError` carries one line per problem, and no secret
value ever appears in those lines or in ``repr(settings)``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bridge.accounts import Account, parse_accounts
from bridge.calypso.endpoints import ENDPOINTS
from bridge.calypso.models import ACCOUNT_PATTERN
from bridge.durations import parse_duration
from bridge.errors import BridgeError
from bridge.sealing import KeyRing
from bridge.tokens import TokenGrant, check_accounts, plain_grants, read_tokens

__all__ = ["ConfigError", "Network", "Settings"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")
# The variables of a one-account deployment; BRIDGE_ACCOUNTS replaces all of them.
SINGLE_ACCOUNT = (
    "BRIDGE_CALYPSO_ACCOUNT",
    "BRIDGE_CALYPSO_API_KEY",
    "BRIDGE_CALYPSO_API_SECRET",
    "BRIDGE_CALYPSO_WEBHOOK_SECRET",
)


class ConfigError(BridgeError):
    """Invalid configuration; ``problems`` holds one human line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The process's configuration. ``accounts`` is never empty: without ``BRIDGE_ACCOUNTS``
    it holds the one account of the ``calypso_*`` fields; with it, those fields mirror the
    first account (development mode and one-account code paths read them)."""

    calypso_account: str = ""
    calypso_api_key: str = field(default="", repr=False)
    calypso_api_secret: str = field(default="", repr=False)
    accounts: tuple[Account, ...] = ()
    # Plain tokens (every scope, every account) and named, scoped ones (bridge.tokens).
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    tokens: tuple[TokenGrant, ...] = ()
    # Seals subscription secrets at rest (bridge.sealing); its repr names key ids only.
    secrets_keys: KeyRing = field(repr=False)
    redis_url: str = field(default="redis://localhost:6379/0", repr=False)
    redis_cluster: bool = False
    redis_require_durable: bool = False
    redis_wait_replicas: int = 1
    redis_wait_timeout: float = 1.0
    key_prefix: str = "bridge"
    calypso_base_url: str = "https://api.calypso.money"
    calypso_timeout: float = 10.0
    calypso_webhook_secret: str | None = field(default=None, repr=False)
    http_host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on all interfaces
    http_port: int = 8080
    metrics_port: int = 9100
    shutdown_grace: float = 10.0
    poll_hot_interval: float = 2.0
    poll_idle_interval: float = 300.0
    poll_lease: float = 60.0
    poll_concurrency: int = 16
    poll_address_hot_for: float = 1800.0
    upstream_rate_limit: float = 20.0
    webhook_retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_allow_http: bool = False
    webhook_allowed_networks: tuple[Network, ...] = ()
    webhook_timeout: float = 15.0
    webhook_connect_timeout: float = 5.0
    webhook_endpoint_concurrency: int = 10
    webhook_concurrency: int = 512
    webhook_disable_after: float = 5 * 86400.0
    webhook_max_retry_after: float = 3600.0
    stream_retention: float = 7 * 86400.0
    stream_max_length: int = 1_000_000
    # Open Server-Sent Event streams per token and API process (bridge.api.sse).
    sse_max_streams_per_token: int = 5
    dead_letter_retention: float = 30 * 86400.0
    # An intent older than this belongs to a request that has finished or died: longer than
    # any API request's upstream calls (a create's externalId lock is held at most 60 s).
    intent_recover_after: float = 120.0
    fault_after_upstream: frozenset[str] = frozenset()
    log_level: str = "INFO"
    log_format: str = "json"

    def __post_init__(self) -> None:
        if not self.accounts:
            if not self.calypso_account:
                raise ValueError("Settings needs calypso_account or accounts")
            one = Account(
                id=self.calypso_account.lower(),
                api_key=self.calypso_api_key,
                api_secret=self.calypso_api_secret,
                webhook_secret=self.calypso_webhook_secret,
                base_url=self.calypso_base_url,
                rate_limit=self.upstream_rate_limit,
            )
            object.__setattr__(self, "accounts", (one,))
        first = self.accounts[0]
        object.__setattr__(self, "calypso_account", first.id)
        object.__setattr__(self, "calypso_api_key", first.api_key)
        object.__setattr__(self, "calypso_api_secret", first.api_secret)
        object.__setattr__(self, "calypso_webhook_secret", first.webhook_secret)

    def account(self, account_id: str) -> Account | None:
        """The configured account of that id (any case), or None."""
        wanted = account_id.lower()
        return next((a for a in self.accounts if a.id == wanted), None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        r = _Reader(environ)
        base_url = r.optional("BRIDGE_CALYPSO_BASE_URL", _http_url, cls.calypso_base_url)
        rate_limit = r.optional(
            "BRIDGE_UPSTREAM_RATE_LIMIT", _positive_number, cls.upstream_rate_limit
        )
        accounts = _accounts(r, base_url, rate_limit)
        if accounts is None:
            account = r.required("BRIDGE_CALYPSO_ACCOUNT", _account)
            api_key = r.required("BRIDGE_CALYPSO_API_KEY", _non_empty, secret=True)
            api_secret = r.required("BRIDGE_CALYPSO_API_SECRET", _non_empty, secret=True)
            webhook_secret = r.optional(
                "BRIDGE_CALYPSO_WEBHOOK_SECRET", _non_empty, None, secret=True
            )
            accounts = ()
        else:
            account, api_key, api_secret, webhook_secret = "", "", "", None
        tokens = r.optional("BRIDGE_API_TOKENS", _tokens, tuple[str, ...](), secret=True)
        served = [a.id for a in accounts] if accounts else [account] if account else []
        named = _named_tokens(r, tokens, served)
        secrets_keys = r.required("BRIDGE_SECRETS_KEYS", KeyRing.parse, secret=True)
        redis_url = r.optional("BRIDGE_REDIS_URL", _redis_url, cls.redis_url, secret=True)
        cluster = r.optional("BRIDGE_REDIS_CLUSTER", _bool, False)
        hot = r.optional("BRIDGE_POLL_HOT_INTERVAL", _positive_duration, cls.poll_hot_interval)
        idle = r.optional("BRIDGE_POLL_IDLE_INTERVAL", _positive_duration, cls.poll_idle_interval)
        if hot is not None and idle is not None and idle < hot:
            r.problems.append(
                "BRIDGE_POLL_IDLE_INTERVAL: must not be shorter than BRIDGE_POLL_HOT_INTERVAL"
            )
        # Every value read first, so every problem is reported, before one is built.
        values: dict[str, Any] = dict(
            calypso_account=account,
            calypso_api_key=api_key,
            calypso_api_secret=api_secret,
            accounts=accounts,
            api_tokens=tokens,
            secrets_keys=secrets_keys,
            tokens=named,
            redis_url=redis_url,
            redis_cluster=cluster or (redis_url or "").startswith("redis+cluster://"),
            redis_require_durable=r.optional("BRIDGE_REDIS_REQUIRE_DURABLE", _bool, False),
            redis_wait_replicas=r.optional(
                "BRIDGE_REDIS_WAIT_REPLICAS", _count, cls.redis_wait_replicas
            ),
            redis_wait_timeout=r.optional(
                "BRIDGE_REDIS_WAIT_TIMEOUT", _positive_duration, cls.redis_wait_timeout
            ),
            key_prefix=r.optional("BRIDGE_KEY_PREFIX", _key_prefix, cls.key_prefix),
            calypso_base_url=base_url,
            calypso_timeout=r.optional(
                "BRIDGE_CALYPSO_TIMEOUT", _positive_duration, cls.calypso_timeout
            ),
            calypso_webhook_secret=webhook_secret,
            http_host=r.optional("BRIDGE_HTTP_HOST", _non_empty, cls.http_host),
            http_port=r.optional("BRIDGE_HTTP_PORT", _port, cls.http_port),
            metrics_port=r.optional("BRIDGE_METRICS_PORT", _port_or_off, cls.metrics_port),
            shutdown_grace=r.optional(
                "BRIDGE_SHUTDOWN_GRACE", _positive_duration, cls.shutdown_grace
            ),
            poll_hot_interval=hot,
            poll_idle_interval=idle,
            poll_lease=r.optional("BRIDGE_POLL_LEASE", _positive_duration, cls.poll_lease),
            poll_concurrency=r.optional(
                "BRIDGE_POLL_CONCURRENCY", _positive_int, cls.poll_concurrency
            ),
            poll_address_hot_for=r.optional(
                "BRIDGE_POLL_ADDRESS_HOT_FOR", _positive_duration, cls.poll_address_hot_for
            ),
            upstream_rate_limit=rate_limit,
            webhook_retry_schedule=r.optional(
                "BRIDGE_WEBHOOK_RETRY_SCHEDULE", _schedule, cls.webhook_retry_schedule
            ),
            webhook_allow_http=r.optional("BRIDGE_WEBHOOK_ALLOW_HTTP", _bool, False),
            webhook_allowed_networks=r.optional(
                "BRIDGE_WEBHOOK_ALLOWED_NETWORKS", _networks, cls.webhook_allowed_networks
            ),
            webhook_timeout=r.optional(
                "BRIDGE_WEBHOOK_TIMEOUT", _positive_duration, cls.webhook_timeout
            ),
            webhook_connect_timeout=r.optional(
                "BRIDGE_WEBHOOK_CONNECT_TIMEOUT", _positive_duration, cls.webhook_connect_timeout
            ),
            webhook_endpoint_concurrency=r.optional(
                "BRIDGE_WEBHOOK_ENDPOINT_CONCURRENCY",
                _positive_int,
                cls.webhook_endpoint_concurrency,
            ),
            webhook_concurrency=r.optional(
                "BRIDGE_WEBHOOK_CONCURRENCY", _positive_int, cls.webhook_concurrency
            ),
            webhook_disable_after=r.optional(
                "BRIDGE_WEBHOOK_DISABLE_AFTER", _positive_duration, cls.webhook_disable_after
            ),
            webhook_max_retry_after=r.optional(
                "BRIDGE_WEBHOOK_MAX_RETRY_AFTER", _positive_duration, cls.webhook_max_retry_after
            ),
            stream_retention=r.optional(
                "BRIDGE_STREAM_RETENTION", _positive_duration, cls.stream_retention
            ),
            stream_max_length=r.optional(
                "BRIDGE_STREAM_MAX_LENGTH", _positive_int, cls.stream_max_length
            ),
            sse_max_streams_per_token=r.optional(
                "BRIDGE_SSE_MAX_STREAMS_PER_TOKEN", _positive_int, cls.sse_max_streams_per_token
            ),
            dead_letter_retention=r.optional(
                "BRIDGE_DEAD_LETTER_RETENTION", _positive_duration, cls.dead_letter_retention
            ),
            intent_recover_after=r.optional(
                "BRIDGE_INTENT_RECOVER_AFTER", _positive_duration, cls.intent_recover_after
            ),
            fault_after_upstream=_faults(r),
            log_level=r.optional("BRIDGE_LOG_LEVEL", _choice(LOG_LEVELS, upper=True), "INFO"),
            log_format=r.optional("BRIDGE_LOG_FORMAT", _choice(LOG_FORMATS), "json"),
        )
        if r.problems:
            raise ConfigError(r.problems)
        return cls(**values)

    @property
    def grants(self) -> tuple[TokenGrant, ...]:
        """Every token the API accepts: the plain ones, then the named ones."""
        return (*plain_grants(self.api_tokens), *self.tokens)


class _Reader:
    """Reads variables, records problems instead of raising, and resolves ``_FILE``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def _raw(self, name: str, *, secret: bool) -> str | None:
        value = self.environ.get(name)
        path = self.environ.get(f"{name}_FILE") if secret else None
        if value is not None and path is not None:
            self.problems.append(f"{name}: set either {name} or {name}_FILE, not both")
            return None
        if path is not None:
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.problems.append(f"{name}_FILE: cannot read {path!r}: {exc.strerror}")
                return None
            except UnicodeDecodeError:
                self.problems.append(f"{name}_FILE: {path!r} is not UTF-8 text")
                return None
        return value

    def required(self, name: str, parse: Callable[[str], T], *, secret: bool = False) -> T:
        raw = self._raw(name, secret=secret)
        if raw is None or raw.strip() == "":
            if not any(p.startswith(name) for p in self.problems):
                hint = f" (or {name}_FILE)" if secret else ""
                self.problems.append(f"{name}: required{hint}, not set")
            return None  # type: ignore[return-value]  # from_env raises before use
        return self._parse(name, raw, parse)

    def optional(
        self, name: str, parse: Callable[[str], T], default: T, *, secret: bool = False
    ) -> T:
        raw = self._raw(name, secret=secret)
        if raw is None or raw.strip() == "":
            return default
        return self._parse(name, raw, parse)

    def _parse(self, name: str, raw: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(raw.strip())
        except ValueError as exc:
            # Parsers of secrets word their errors without the value, so nothing leaks.
            self.problems.append(f"{name}: {exc}")
            return None  # type: ignore[return-value]  # from_env raises before use


def _named_tokens(
    r: _Reader, plain: tuple[str, ...] | None, served: list[str]
) -> tuple[TokenGrant, ...]:
    """``BRIDGE_TOKENS`` (TOML of ``[[token]]`` tables), checked against the plain tokens
    and the configured accounts; at least one token of either kind is required."""
    name = "BRIDGE_TOKENS"
    path = r.environ.get(f"{name}_FILE")
    source = f"{name}_FILE ({path})" if path is not None else name
    failed = len(r.problems)
    raw = r._raw(name, secret=True)
    if raw is None or not raw.strip():
        if not plain and len(r.problems) == failed and not _mentions(r, "BRIDGE_API_TOKENS"):
            r.problems.append(
                "BRIDGE_API_TOKENS: required (or BRIDGE_TOKENS for named tokens, or "
                "either's _FILE), not set"
            )
        return ()
    grants, problems = read_tokens(raw, source)
    problems += check_accounts(grants, served, source)
    for grant in plain_grants(plain or ()):
        for named in grants:
            if named.digest == grant.digest:
                problems.append(
                    f"{source}: [[token]] ({named.name}): sha256: the same token as one "
                    "in BRIDGE_API_TOKENS"
                )
            elif named.name == grant.name:
                problems.append(
                    f"{source}: [[token]] ({named.name}): name: taken by a token "
                    "in BRIDGE_API_TOKENS"
                )
    r.problems.extend(problems)
    return tuple(grants)


def _mentions(r: _Reader, name: str) -> bool:
    return any(p.startswith(name) for p in r.problems)


def _accounts(r: _Reader, base_url: str, rate_limit: float) -> tuple[Account, ...] | None:
    """The accounts of ``BRIDGE_ACCOUNTS`` (or its file); None when neither is set."""
    text = r.environ.get("BRIDGE_ACCOUNTS")
    path = r.environ.get("BRIDGE_ACCOUNTS_FILE")
    if text is None and path is None:
        return None
    both = [n for n in SINGLE_ACCOUNT if n in r.environ or f"{n}_FILE" in r.environ]
    if both:
        r.problems.append(
            f"BRIDGE_ACCOUNTS: set either BRIDGE_ACCOUNTS or {', '.join(both)}, not both"
        )
    if text is not None and path is not None:
        r.problems.append("BRIDGE_ACCOUNTS: set either BRIDGE_ACCOUNTS or BRIDGE_ACCOUNTS_FILE")
        return ()
    source = "BRIDGE_ACCOUNTS"
    if path is not None:
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            r.problems.append(f"BRIDGE_ACCOUNTS_FILE: cannot read {path!r}: {exc.strerror}")
            return ()
        except UnicodeDecodeError:
            r.problems.append(f"BRIDGE_ACCOUNTS_FILE: {path!r} is not UTF-8 text")
            return ()
    # A bad global default is reported once, by its own variable, not once per account.
    accounts, problems = parse_accounts(
        text or "",
        source=source,
        base_url=base_url or Settings.calypso_base_url,
        rate_limit=rate_limit or Settings.upstream_rate_limit,
    )
    r.problems.extend(problems)
    return accounts


def _faults(r: _Reader) -> frozenset[str]:
    """Test-only faults (bridge.faults): refused unless injection is switched on."""
    after = r.optional("BRIDGE_FAULT_AFTER_UPSTREAM", _operations, frozenset[str]())
    if after and not r.optional("BRIDGE_FAULT_INJECTION", _bool, False):
        r.problems.append(
            "BRIDGE_FAULT_AFTER_UPSTREAM: a test-only fault, refused without "
            "BRIDGE_FAULT_INJECTION=true"
        )
    return after


def _operations(value: str) -> frozenset[str]:
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(names - {e.name for e in ENDPOINTS})
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))}: not a Calypso operation")
    return names


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _account(value: str) -> str:
    if not re.fullmatch(ACCOUNT_PATTERN, value):
        raise ValueError(f"{value!r} is not a Calypso account (0x followed by 40 hex digits)")
    return value.lower()


def _tokens(value: str) -> tuple[str, ...]:
    tokens = tuple(t.strip() for t in value.split(",") if t.strip())
    if not tokens:
        raise ValueError("needs at least one token")
    if any(len(t) < 8 for t in tokens):
        raise ValueError("every token needs at least 8 characters")
    return tokens


def _redis_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss", "redis+cluster", "unix"):
        raise ValueError(
            f"scheme {scheme!r} is not one of redis://, rediss://, redis+cluster://, unix://"
        )
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def _key_prefix(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        raise ValueError(f"{value!r} may only use letters, digits and _ . : -")
    return value


def _digits(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``٣`` and ``²``."""
    return value.isascii() and value.isdigit()


def _port(value: str) -> int:
    if not _digits(value) or not 0 < int(value) < 65536:
        raise ValueError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)


def _port_or_off(value: str) -> int:
    return 0 if value == "0" else _port(value)


def _positive_int(value: str) -> int:
    if not _digits(value) or int(value) < 1:
        raise ValueError(f"{value!r} is not a positive whole number")
    return int(value)


def _count(value: str) -> int:
    if not _digits(value):
        raise ValueError(f"{value!r} is not a whole number (0 or more)")
    return int(value)


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false)")


def _positive_number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"{value!r} must be a positive number")
    return number


def _positive_duration(value: str) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def _schedule(value: str) -> tuple[float, ...]:
    delays = tuple(parse_duration(part) for part in value.split(","))
    if not delays:
        raise ValueError("needs at least one delay")
    return delays


def _networks(value: str) -> tuple[Network, ...]:
    networks = []
    for part in value.split(","):
        if not part.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a CIDR network") from None
    return tuple(networks)


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        normalised = value.upper() if upper else value.lower()
        if normalised not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return normalised

    return parse
