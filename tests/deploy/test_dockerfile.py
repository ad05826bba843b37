"""The Dockerfile, read with BuildKit's own parser (the ``dockerfile`` package) and linted
with hadolint: there is no Docker engine here to build it.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "clang", "cmake", "python3-dev")
OCI_LABELS = ("title", "description", "source", "version", "licenses")


@dataclass
class Stage:
    image: str
    name: str | None
    commands: list[dockerfile.Command] = field(default_factory=list)

    def all(self, instruction: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd == instruction]

    def last(self, instruction: str) -> dockerfile.Command:
        found = self.all(instruction)
        assert found, f"no {instruction} in the stage FROM {self.image}"
        return found[-1]

    def runs(self) -> list[str]:
        return [" ".join(c.value) for c in self.all("RUN")]

    def pairs(self, instruction: str) -> dict[str, str]:
        """ENV and LABEL as a dict, quotes removed (the parser keeps them)."""
        values = [v for c in self.all(instruction) for v in c.value]
        return {k: " ".join(shlex.split(v)) for k, v in zip(values[::2], values[1::2], strict=True)}


def _stages() -> list[Stage]:
    stages: list[Stage] = []
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            image, *alias = command.value
            named = len(alias) == 2 and alias[0].upper() == "AS"
            stages.append(Stage(image=image, name=alias[1] if named else None))
        elif stages:  # an ARG before the first FROM belongs to no stage
            stages[-1].commands.append(command)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return _stages()


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_hadolint_finds_nothing_to_complain_about() -> None:
    hadolint = Path(sysconfig.get_path("scripts")) / "hadolint"
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_has_a_named_builder_stage_and_a_slim_final_stage(
    stages: list[Stage], final: Stage
) -> None:
    assert len(stages) >= 2
    assert all(stage.name for stage in stages), "every stage is named (FROM ... AS ...)"
    assert all(stage.image == "python:3.11-slim" for stage in stages)
    assert final.image == "python:3.11-slim"


def test_the_builder_installs_the_locked_runtime_dependencies_into_a_virtualenv(
    stages: list[Stage],
) -> None:
    builder = stages[-2]
    env = builder.pairs("ENV")
    assert env["UV_PROJECT_ENVIRONMENT"] == "/opt/venv", "uv sync fills the venv the image copies"
    assert env["UV_COMPILE_BYTECODE"] == "1", "the service user cannot write bytecode later"
    runs = builder.runs()
    assert [re.findall(r"pip install (.*?)\s*(?:&&|$)", run) for run in runs if "pip " in run] == [
        ['--no-cache-dir "uv==${UV_VERSION}"']
    ], "pip brings uv and nothing else: every other package comes from the lock"
    syncs = [options for run in runs for options in re.findall(r"uv sync ([^&]*)", run)]
    assert syncs, runs
    for options in syncs:
        flags = options.split()
        assert "--locked" in flags, "a lock that no longer matches pyproject.toml stops the build"
        assert "--no-default-groups" in flags, "no test, lint or deploy-check dependency"
        assert "--no-editable" in flags, "the image holds the bridge itself, not a link to /src"
        assert not {"--group", "--all-groups", "--dev", "--extra", "--all-extras"} & set(flags)
    assert "--no-install-project" not in syncs[-1], "the last sync installs the bridge"
    assert "/opt/venv/bin/bridge --help" in runs[-1], "the build fails if the install is broken"


def test_the_lock_comes_into_the_build_before_anything_is_installed(stages: list[Stage]) -> None:
    builder = stages[-2]
    copies = [c for c in builder.commands if c.cmd == "COPY"]
    first_sync = next(c for c in builder.all("RUN") if "uv sync" in " ".join(c.value))
    lock_copy = next(c for c in copies if "uv.lock" in c.value[:-1])
    assert builder.commands.index(lock_copy) < builder.commands.index(first_sync)
    assert (ROOT / "uv.lock").is_file()


def test_the_image_and_the_makefile_use_the_same_uv_release(stages: list[Stage]) -> None:
    args = dict(arg.partition("=")[::2] for c in stages[-2].all("ARG") for arg in c.value)
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION\s*:?=\s*(\S+)$", makefile, flags=re.M)
    assert pinned, "the Makefile pins the uv release it installs"
    assert args["UV_VERSION"] == pinned[1]


def test_the_final_stage_copies_only_the_virtualenv_from_the_builder(
    stages: list[Stage], final: Stage
) -> None:
    [copy] = final.all("COPY") + final.all("ADD")
    assert copy.flags == (f"--from={stages[0].name}",)
    assert copy.value == ("/opt/venv", "/opt/venv")
    assert final.pairs("ENV")["PATH"].startswith("/opt/venv/bin:")


def test_the_final_stage_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    [user] = final.last("USER").value
    uid, _, gid = user.partition(":")
    assert re.fullmatch(r"[1-9][0-9]{3,}", uid), f"numeric and not a system user: {user}"
    assert re.fullmatch(r"|[1-9][0-9]*", gid), f"numeric and not root: {user}"
    assert f"--uid {uid}" in " ".join(final.runs()), "the user exists in /etc/passwd"
    instructions = [c.cmd for c in final.commands]
    assert "RUN" not in instructions[instructions.index("USER") :], "nothing runs as root after"


def test_the_final_stage_has_no_build_tools_and_no_pip_cache(final: Stage) -> None:
    for run in final.runs():
        for tool in BUILD_TOOLS:
            assert not re.search(rf"\binstall\b.*(?<![\w-]){re.escape(tool)}(?![\w-])", run), run
        assert "pip install" not in run, "dependencies come from the builder's virtualenv"
        assert "uv " not in run, "dependencies come from the builder's virtualenv"
    env = final.pairs("ENV")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_the_image_carries_the_oci_labels_with_the_package_version(final: Stage) -> None:
    labels = final.pairs("LABEL")
    for name in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{name}"), name
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    args = dict(arg.partition("=")[::2] for c in final.all("ARG") for arg in c.value)
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert args["VERSION"] == project["version"]
    assert labels["org.opencontainers.image.title"] == project["name"]


def test_one_image_serves_every_role_with_the_api_by_default(final: Stage) -> None:
    entrypoint, command = final.last("ENTRYPOINT"), final.last("CMD")
    assert entrypoint.json, "exec form, so signals reach bridge itself"
    assert entrypoint.value == ("bridge",)
    assert command.value == ("api",)
    assert set(final.last("EXPOSE").value) == {"8080", "9100"}


def test_the_healthcheck_asks_the_live_route_on_the_port_the_role_names(final: Stage) -> None:
    healthcheck = final.last("HEALTHCHECK")
    flags = {flag.partition("=")[0] for flag in healthcheck.flags}
    assert {"--interval", "--timeout", "--retries"} <= flags
    assert healthcheck.json
    instruction, python, option, code = healthcheck.value
    assert (instruction, python, option) == ("CMD", "python", "-c")
    assert "/health/live" in code
    assert "os.environ.get('BRIDGE_HEALTH_PORT', '8080')" in code
    compile(code, "HEALTHCHECK", "exec")


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or a parent of it decides."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negated
    return ignored


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".venv/bin/python", True),
        (".git/HEAD", True),
        (".mypy_cache/3.11/x.json", True),
        (".pytest_cache/v/cache", True),
        ("tests/conftest.py", True),
        ("deploy/compose.yaml", True),
        ("bridge/__pycache__/cli.cpython-311.pyc", True),
        ("bridge/cli.py", False),
        ("bridge/py.typed", False),
        ("pyproject.toml", False),
        ("uv.lock", False),
        ("README.md", False),
    ],
)
def test_dockerignore_sends_only_what_the_build_needs(path: str, ignored: bool) -> None:
    assert _dockerignored(path, _dockerignore()) is ignored


def test_every_file_the_dockerfile_copies_is_in_the_build_context(stages: list[Stage]) -> None:
    patterns = _dockerignore()
    for stage in stages:
        for copy in stage.all("COPY"):
            if any(flag.startswith("--from=") for flag in copy.flags):
                continue
            *sources, _ = copy.value
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not _dockerignored(source, patterns), f"{source} is in .dockerignore"
