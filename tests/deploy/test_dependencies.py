"""The dependencies: ranges in pyproject.toml, exact versions and hashes in uv.lock.

CI (``make test``), ``make install`` and the image all install from the lock, so the lock must
say what pyproject.toml says; the linters are pinned exactly in pyproject.toml as well, so that
relocking cannot bring a linter release that fails a tree nobody changed.
"""

from __future__ import annotations

import re
import subprocess
import sysconfig
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
GROUPS = PYPROJECT["dependency-groups"]


def test_the_lock_says_what_pyproject_says() -> None:
    uv = Path(sysconfig.get_path("scripts")) / "uv"
    assert uv.exists(), "make install puts uv into the virtualenv"
    result = subprocess.run(
        [uv, "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"run `make lock`:\n{result.stderr}"


def test_the_linters_are_pinned_exactly() -> None:
    names = set()
    for requirement in GROUPS["lint"]:
        match = re.fullmatch(r"([a-z0-9-]+)==\d+(\.\d+)*", requirement)
        assert match, f"{requirement}: a linter release must not turn CI red by itself"
        names.add(match[1])
    assert {"ruff", "mypy"} <= names


def test_every_runtime_dependency_has_a_floor_and_a_ceiling() -> None:
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert re.search(r">=\d", requirement), f"{requirement}: the oldest release that works"
        assert re.search(r",<\d", requirement), f"{requirement}: the next major may break it"


def test_dev_is_every_other_group_and_the_runtime_needs_none_of_them() -> None:
    others = [name for name in GROUPS if name != "dev"]
    assert {"test", "lint", "deploy-check"} <= set(others)
    assert GROUPS["dev"] == [{"include-group": name} for name in others]
    assert "optional-dependencies" not in PYPROJECT["project"], "groups, not extras, for tools"
