"""Redis ACL users made the way an operator makes them: the line ``bridge acl …`` prints,
sent as it stands through an admin connection."""

from __future__ import annotations

import contextlib
import io
import shlex
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from bridge.cli import main

__all__ = ["AclUsers", "printed"]


def printed(argv: Sequence[str]) -> tuple[int, str, str]:
    """``bridge <argv>``: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


class AclUsers:
    """Users applied to one Redis server through its admin (``default``) connection; every
    one is deleted again by :meth:`aclose`."""

    def __init__(self, admin: Redis, url: str) -> None:
        self.admin = admin
        self._url = urlsplit(url)
        self._made: list[str] = []

    async def version(self) -> str:
        """The server's ``MAJOR.MINOR``, for ``--redis-version``."""
        info: dict[str, Any] = await self.admin.info("server")
        return ".".join(str(info["redis_version"]).split(".")[:2])

    async def make(self, *argv: str, password: str) -> str:
        """Run ``bridge acl <argv> --password <password>``, apply the printed line and return
        the user's URL on this server."""
        flags = ["--password", password, "--redis-version", await self.version()]
        code, out, err = printed(["acl", *argv, *flags])
        assert code == 0, err
        assert password not in out + err  # a given password is never printed
        (line,) = out.splitlines()
        words = shlex.split(line)
        assert words[:2] == ["ACL", "SETUSER"]
        await self.admin.execute_command(*words)  # type: ignore[no-untyped-call]
        self._made.append(words[2])
        return self.url(words[2], password)

    def url(self, name: str, password: str) -> str:
        where = f"{self._url.hostname}:{self._url.port}"
        return f"redis://{quote(name)}:{quote(password, safe='')}@{where}{self._url.path or '/0'}"

    async def permits(self, name: str, *command: str) -> bool:
        """Whether ``name`` may run ``command`` (ACL DRYRUN: nothing runs, so a SHUTDOWN or
        FLUSHALL the user should not have can be asked about safely)."""
        answer = await self.admin.execute_command("ACL", "DRYRUN", name, *command)  # type: ignore[no-untyped-call]
        return _text(answer) == "OK"

    async def denied(self, name: str) -> list[dict[str, Any]]:
        """The ACL LOG entries of ``name``: what the server refused it (command or key)."""
        entries: list[dict[str, Any]] = await self.admin.acl_log()
        return [e for e in entries if _text(e.get("username")) == name]

    async def aclose(self) -> None:
        if self._made:
            await self.admin.acl_deluser(*self._made)
        await self.admin.acl_log_reset()


async def allowed_of(client: Redis, commands: dict[str, tuple[str, ...]]) -> list[str]:
    """Which of ``commands`` (description → command) the client's user may run: each is sent,
    and a NOPERM answer counts as refused."""
    allowed = []
    for what, command in commands.items():
        try:
            await client.execute_command(*command)  # type: ignore[no-untyped-call]
        except NoPermissionError:
            continue
        allowed.append(what)
    return allowed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
