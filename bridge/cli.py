"""``bridge``: one command for every role of the service.

Exit codes: 0 done, 1 failed while running, 2 bad usage or configuration (one line per
problem on stderr, no traceback; also a Redis that is not durable when
BRIDGE_REDIS_REQUIRE_DURABLE requires it), 3 the OpenAPI check found a stale file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
import uvloop

from bridge import __version__
from bridge.acl_commands import add_acl_commands
from bridge.config import ConfigError, Settings
from bridge.events.catalog import webhooks_section
from bridge.observability import configure_logging
from bridge.reseal import add_commands as add_secrets_commands
from bridge.sealing import KeyRing
from bridge.tokens import SCOPES

if TYPE_CHECKING:
    from bridge.sandbox.app import SandboxConfig

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STALE = 0, 1, 2, 3

# Development mode runs against the sandbox with these credentials; none of them is secret.
DEV_ACCOUNT = "0x" + "5a" * 20
DEV_API_KEY = "dev-api-key"
DEV_API_SECRET = "dev-api-secret"  # noqa: S105 - development only, documented
DEV_TOKEN = "dev-token-change-me"  # noqa: S105 - development only, documented
DEV_WEBHOOK_SECRET = "dev-calypso-webhook-secret"  # noqa: S105 - development only  # noqa: S105 - development only, documented
# base64 of b"calypso-bridge development only!": seals subscription secrets in development.
DEV_SECRETS_KEYS = "dev:Y2FseXBzby1icmlkZ2UgZGV2ZWxvcG1lbnQgb25seSE="
DEFAULT_OPENAPI_PATH = Path("openapi-out/openapi.json")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print("bridge: cannot start:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description=(
            "Calypso webhook bridge: REST API, worker (polling and webhook delivery), "
            "sandbox, development mode, local webhook receiver, OpenAPI document and Redis "
            "ACL users."
        ),
        epilog="Configuration comes from BRIDGE_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    roles = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    api = roles.add_parser("api", help="serve the REST API", description=_run_api.__doc__)
    api.add_argument("--host", help="bind address (default: BRIDGE_HTTP_HOST or 0.0.0.0)")
    api.add_argument("--port", type=int, help="port (default: BRIDGE_HTTP_PORT or 8080)")
    api.set_defaults(run=_run_api)

    worker = roles.add_parser(
        "worker",
        help="poll Calypso into the event stream and deliver its webhooks",
        description=_run_worker.__doc__,
    )
    worker.set_defaults(run=_run_worker)

    sandbox = roles.add_parser(
        "sandbox", help="serve the Calypso simulator", description=_run_sandbox.__doc__
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    sandbox.add_argument("--seed", type=int, help="seed for reproducible ids and addresses")
    sandbox.set_defaults(run=_run_sandbox)

    dev = roles.add_parser(
        "dev",
        help="run the API, a worker and the sandbox together for development",
        description=_run_dev.__doc__,
    )
    dev.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    dev.add_argument("--sandbox-port", type=int, default=8090, help="sandbox port (default 8090)")
    dev.set_defaults(run=_run_dev)

    receive = roles.add_parser(
        "receive",
        help="a local webhook receiver that verifies and prints webhooks",
        description=_run_receive.__doc__,
    )
    receive.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    receive.add_argument("--port", type=int, default=9000, help="port (default 9000)")
    receive.add_argument(
        "--path", default="/webhooks", help="path to listen on (default /webhooks)"
    )
    receive.add_argument(
        "--secret",
        action="append",
        default=[],
        help="the subscription's whsec_ secret; repeat during a rotation "
        "(default: BRIDGE_RECEIVER_SECRET)",
    )
    receive.add_argument("--full", action="store_true", help="print whole events")
    receive.set_defaults(run=_run_receive)

    token = roles.add_parser("token", help="make API tokens", description="Make API tokens.")
    token_commands = token.add_subparsers(title="commands", required=True, metavar="COMMAND")
    token_new = token_commands.add_parser(
        "new",
        help="print a fresh token and its [[token]] table",
        description=_run_token_new.__doc__,
    )
    token_new.add_argument(
        "--name", required=True, help="who uses it (shown as subscription owner)"
    )
    token_new.add_argument("--scopes", required=True, help="comma-separated: " + ", ".join(SCOPES))
    token_new.add_argument(
        "--accounts", required=True, help="comma-separated 0x account ids, or * for every one"
    )
    token_new.set_defaults(run=_run_token_new)

    openapi = roles.add_parser(
        "openapi", help="write the OpenAPI document", description=_run_openapi.__doc__
    )
    openapi.add_argument("--output", type=Path, default=DEFAULT_OPENAPI_PATH)
    openapi.add_argument(
        "--check", action="store_true", help="exit 3 if the file differs instead of writing it"
    )
    openapi.set_defaults(run=_run_openapi)
    add_acl_commands(roles)
    add_secrets_commands(roles)
    return parser


def _run_api(args: argparse.Namespace) -> int:
    """Serve the REST API with the configuration in the environment."""
    from bridge.api.app import create_app

    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_check_redis(settings))
    from bridge.api.serving import ApiServer

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)),
    )
    ApiServer(config, app).run()
    return EXIT_OK


def _run_worker(args: argparse.Namespace) -> int:
    """Poll the watched customers' transactions into the event stream, and deliver every
    event as a signed webhook to each subscription that wants it, retrying failures. Run as
    many as you like: they share customers and deliveries through leases in Redis. SIGTERM
    or Ctrl-C stops taking work, lets running polls and webhook attempts finish
    (BRIDGE_SHUTDOWN_GRACE, 10 s by default) and hands the rest back."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_format)
    # uvloop: the delivery path spends a quarter of its time in the event loop itself.
    uvloop.run(_serve_worker(settings))
    return EXIT_OK


async def _check_redis(settings: Settings) -> None:
    """The API's start-up check of Redis's durability, on a client of its own (the app builds
    its clients inside its event loop, which uvicorn starts later)."""
    from bridge.wiring import Components

    components = Components(settings)
    try:
        await components.check_redis()
    finally:
        await components.aclose()


async def _serve_worker(settings: Settings) -> None:
    from bridge.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(settings)
    try:
        await worker.components.check_redis()
        await worker.run(stop)
    finally:
        await worker.aclose()


def _sandbox_config(seed: int | None = None) -> SandboxConfig:
    from bridge.sandbox.app import SandboxConfig

    env = os.environ
    return SandboxConfig(
        account=env.get("BRIDGE_CALYPSO_ACCOUNT", DEV_ACCOUNT),
        api_key=env.get("BRIDGE_CALYPSO_API_KEY", DEV_API_KEY),
        api_secret=env.get("BRIDGE_CALYPSO_API_SECRET", DEV_API_SECRET),
        seed=seed,
        webhook_url=env.get("BRIDGE_SANDBOX_WEBHOOK_URL"),
        webhook_secret=env.get("BRIDGE_CALYPSO_WEBHOOK_SECRET")
        if env.get("BRIDGE_SANDBOX_WEBHOOK_URL")
        else None,
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    """Serve the Calypso simulator. It accepts the account, key and secret in
    BRIDGE_CALYPSO_ACCOUNT / _API_KEY / _API_SECRET, or the development ones by default.
    Never point a production bridge at it."""
    from bridge.sandbox.app import create_sandbox_app

    configure_logging(os.environ.get("BRIDGE_LOG_LEVEL", "INFO"), "console")
    app = create_sandbox_app(_sandbox_config(args.seed))
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return EXIT_OK


def _run_dev(args: argparse.Namespace) -> int:
    """Run the sandbox, the API and a worker in one process, wired together with development
    credentials. Uses BRIDGE_REDIS_URL (default redis://localhost:6379/0) and starts a
    private redis-server when none answers there."""
    configure_logging(os.environ.get("BRIDGE_LOG_LEVEL", "INFO"), "console")
    busy = [f"port {p} is already in use" for p in (args.port, args.sandbox_port) if _busy(p)]
    if busy:
        raise ConfigError([*busy, "choose others with --port / --sandbox-port"])
    with _dev_redis() as redis_url:
        environ = {
            "BRIDGE_CALYPSO_ACCOUNT": DEV_ACCOUNT,
            "BRIDGE_CALYPSO_API_KEY": DEV_API_KEY,
            "BRIDGE_CALYPSO_API_SECRET": DEV_API_SECRET,
            "BRIDGE_API_TOKENS": DEV_TOKEN,
            "BRIDGE_LOG_FORMAT": "console",
            # Local receivers (bridge receive) are allowed in development, and the sandbox's
            # own webhooks reach the API as hints, as Calypso's would.
            "BRIDGE_WEBHOOK_ALLOW_HTTP": "true",
            "BRIDGE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            "BRIDGE_CALYPSO_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
            # The API's /metrics shows the worker's figures too (one process, one registry).
            "BRIDGE_METRICS_PORT": "0",
            **_dev_secrets_keys(),
            **{k: v for k, v in os.environ.items() if k.startswith("BRIDGE_")},
            "BRIDGE_REDIS_URL": redis_url,
            "BRIDGE_CALYPSO_BASE_URL": f"http://127.0.0.1:{args.sandbox_port}",
        }
        settings = Settings.from_env(environ)
        uvloop.run(_serve_dev(settings, args.port, args.sandbox_port))
    return EXIT_OK


def _dev_secrets_keys() -> dict[str, str]:
    """The fixed development key, unless the environment gives keys of its own."""
    given = {"BRIDGE_SECRETS_KEYS", "BRIDGE_SECRETS_KEYS_FILE"} & os.environ.keys()
    return {} if given else {"BRIDGE_SECRETS_KEYS": DEV_SECRETS_KEYS}


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def _dev_redis() -> Iterator[str]:
    import redis

    from bridge.local_redis import INSTALL_HINT, redis_server_process

    url = os.environ.get("BRIDGE_REDIS_URL", "redis://localhost:6379/0")
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            client.ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    if reachable:
        print(f"redis    {url}", flush=True)
        yield url
        return
    with contextlib.ExitStack() as stack:
        try:
            started = stack.enter_context(redis_server_process())
        except RuntimeError:
            problem = f"BRIDGE_REDIS_URL: nothing answers at {url}; {INSTALL_HINT}"
            raise ConfigError([problem]) from None
        print(f"redis    {started} (started for this session, data is not kept)", flush=True)
        yield started


async def _serve_dev(settings: Settings, api_port: int, sandbox_port: int) -> None:
    from bridge.api.app import create_app
    from bridge.metrics import Metrics
    from bridge.sandbox.app import SandboxConfig, create_sandbox_app
    from bridge.worker import Worker

    sandbox_app = create_sandbox_app(
        SandboxConfig(
            account=settings.calypso_account,
            api_key=settings.calypso_api_key,
            api_secret=settings.calypso_api_secret,
            webhook_url=f"http://127.0.0.1:{api_port}/v1/calypso/webhooks",
            webhook_secret=settings.calypso_webhook_secret,
        )
    )
    # One process, one registry: the API's /metrics shows the worker's figures too.
    metrics = Metrics()
    servers = [
        uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        )
        for app, port in (
            (sandbox_app, sandbox_port),
            (create_app(settings, metrics=metrics), api_port),
        )
    ]
    print(
        f"sandbox  http://127.0.0.1:{sandbox_port}  (control endpoints under /sandbox/)\n"
        f"api      http://127.0.0.1:{api_port}  (docs at /docs, token: {DEV_TOKEN})\n"
        f"worker   polling every {settings.poll_hot_interval:g}s while customers are active, "
        "delivering webhooks\n"
        f"metrics  http://127.0.0.1:{api_port}/metrics\n"
        "Ctrl-C stops everything.",
        flush=True,
    )
    stop = asyncio.Event()
    worker = Worker(settings, metrics=metrics)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    tasks.append(asyncio.create_task(worker.run(stop)))
    try:
        # Each server installs its own signal handling; when one stops, stop the rest too.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await worker.aclose()


def _run_receive(args: argparse.Namespace) -> int:
    """Receive webhooks locally: verify each with the subscription's secret and print it.
    Answers 204 to a genuine event and 401 to anything else (the reason is printed)."""
    from bridge.delivery.signing import InvalidSecret, secret_bytes
    from bridge.receiver import serve_receiver

    secrets = args.secret or [
        s for s in os.environ.get("BRIDGE_RECEIVER_SECRET", "").split(",") if s.strip()
    ]
    if not secrets:
        raise ConfigError(["--secret: required (or BRIDGE_RECEIVER_SECRET), not set"])
    for secret in secrets:
        try:
            secret_bytes(secret)
        except InvalidSecret:
            raise ConfigError(["--secret: not a whsec_ secret"]) from None
    configure_logging("WARNING", "console")
    asyncio.run(serve_receiver(args.host, args.port, args.path, secrets, full=args.full))
    return EXIT_OK


def _run_token_new(args: argparse.Namespace) -> int:
    """Print a fresh random token, once, and the [[token]] table (its SHA-256 digest, never
    the token) to paste into BRIDGE_TOKENS_FILE. Nothing is stored: lose the token and make
    a new one."""
    from bridge.tokens import NAME_PATTERN, new_token, parse_accounts, parse_scopes, token_table

    problems = []
    if not re.fullmatch(NAME_PATTERN, args.name):
        problems.append(
            "--name: letters, digits and _ . - (up to 64, starting with one of the first two)"
        )
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    try:
        parse_scopes(scopes)
    except ValueError as exc:
        problems.append(f"--scopes: {exc}")
    if not scopes:
        problems.append("--scopes: at least one scope")
    accounts = [a.strip() for a in args.accounts.split(",") if a.strip()]
    try:
        parse_accounts(accounts)
    except ValueError as exc:
        problems.append(f"--accounts: {exc}")
    if problems:
        print(
            "bridge token new: refused:", *(f"  {p}" for p in problems), sep="\n", file=sys.stderr
        )
        return EXIT_USAGE
    token, digest = new_token()
    print(
        "The token (shown only now; hand it to its caller, keep no copy):\n"
        f"  {token}\n\n"
        "Add this table to BRIDGE_TOKENS_FILE and restart the API:\n\n"
        + token_table(args.name, digest, scopes, accounts)
    )
    return EXIT_OK


def openapi_document() -> str:
    from bridge.api.app import create_app

    placeholder = Settings(
        calypso_account=DEV_ACCOUNT,
        calypso_api_key=DEV_API_KEY,
        calypso_api_secret=DEV_API_SECRET,
        api_tokens=(DEV_TOKEN,),
        secrets_keys=KeyRing.parse(DEV_SECRETS_KEYS),
    )
    schema = create_app(placeholder).openapi_schema.to_schema()
    # The webhooks a receiver gets, from the event catalog (Litestar documents only routes).
    webhooks, components = webhooks_section()
    schema["webhooks"] = webhooks
    schema["components"]["schemas"].update(components)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _run_openapi(args: argparse.Namespace) -> int:
    """Write the API's OpenAPI document (or check that the committed one is current)."""
    document = openapi_document()
    path: Path = args.output
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != document:
            print(f"{path} is stale: run 'bridge openapi' (make openapi)", file=sys.stderr)
            return EXIT_STALE
        return EXIT_OK
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    print(f"wrote {path}")
    return EXIT_OK
