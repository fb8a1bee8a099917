"""What the test suite installs: exact pins, one full constraints file, one command for
newcomers and CI."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_test_tool_is_pinned_as_in_the_constraints() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = constraints()
    for line in project["optional-dependencies"]["test"]:
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", line
        assert pinned[canonicalize_name(req.name)] == spec.version, line
    assert canonicalize_name(project["name"]) not in pinned


def test_constraints_are_the_installed_closure_of_the_test_extra() -> None:
    run = subprocess.run([sys.executable, "scripts/pin_constraints.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    (command,) = {m.group(1).strip() for m in re.finditer(r"^(.*pip install .* && python -m pytest -n auto)", readme, re.M)}
    assert "-c constraints.txt" in command and "CMAKE_ARGS=" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
