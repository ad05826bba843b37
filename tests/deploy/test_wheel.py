"""The wheel is the unit the image ships: built from this tree, installed with its declared
dependencies into a fresh virtualenv, every role of ``bridge`` must start far enough to
print its usage, and without configuration refuse to start with one line per problem.

The dependencies come from pip's cache (or the package index), which is what makes this the
slow test of the suite; one virtualenv serves every check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KNOWN_ROLES = {"api", "worker", "sandbox", "dev", "openapi"}
REQUIRED = (
    "BRIDGE_CALYPSO_ACCOUNT",
    "BRIDGE_CALYPSO_API_KEY",
    "BRIDGE_CALYPSO_API_SECRET",
    "BRIDGE_API_TOKENS",
    "BRIDGE_SECRETS_KEYS",
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # No BRIDGE_* variable of the test run may leak into the installed command.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def _checked(*argv: str | Path) -> str:
    result = _run(*argv)
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# The uv that `make install` put beside this interpreter.
UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _checked(UV, "build", "--wheel", "--quiet", "--out-dir", dist, ROOT)
    [built] = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def bridge(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bridge`` command of a fresh virtualenv that has only the wheel and its deps."""
    venv = tmp_path_factory.mktemp("venv")
    _checked(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # uv, as `make install` uses it: its cache makes the install seconds, not a minute.
    _checked(UV, "pip", "install", "--quiet", "--python", python, wheel)
    return venv / "bin" / "bridge"


@pytest.fixture(scope="module")
def roles(bridge: Path) -> list[str]:
    usage = _checked(bridge, "--help")
    section = usage.split("\ncommands:\n", 1)[1]
    return re.findall(r"^ {4}([a-z][a-z-]*)\s", section, flags=re.M)


def test_the_wheel_holds_every_file_of_the_package_and_the_console_script(wheel: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert wheel.name.startswith(f"{project['name'].replace('-', '_')}-{project['version']}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    sources = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "bridge").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)}"
    assert "bridge/py.typed" in names
    assert not [n for n in names if n.startswith("tests/")]
    assert "bridge = bridge.cli:main" in scripts


def test_bridge_help_lists_every_role_and_the_version(bridge: Path, roles: list[str]) -> None:
    assert set(roles) >= KNOWN_ROLES, roles
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _checked(bridge, "--version").strip() == f"bridge {version}"


def test_every_role_prints_its_usage(bridge: Path, roles: list[str]) -> None:
    for role in roles:
        result = _run(bridge, role, "--help")
        assert result.returncode == 0, f"bridge {role} --help\n{result.stderr}"
        assert result.stdout.startswith(f"usage: bridge {role}"), result.stdout
        assert "Traceback" not in result.stderr


def test_api_without_configuration_exits_2_with_one_line_per_problem(
    bridge: Path, tmp_path: Path
) -> None:
    result = _run(bridge, "api", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    header, *problems = result.stderr.splitlines()
    assert header == "bridge: cannot start:"
    assert all(line.startswith("  BRIDGE_") for line in problems), problems
    for variable in REQUIRED:
        assert len([p for p in problems if p.strip().startswith(f"{variable}:")]) == 1, variable
