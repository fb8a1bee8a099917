"""The layering contract (`.importlinter`): imports run one way, and an import
that runs back up fails the suite with a message naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "dateline"


# `lint-imports`, run by this very interpreter (whatever is first on PATH).
_LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_hold() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_running_back_up_breaks_them(tmp_path: Path) -> None:
    copy = tmp_path / "dateline"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    base = copy / "backends" / "_base.py"
    base.write_text(base.read_text() + "\nfrom ..http import frame  # noqa\n")
    result = lint_imports(pythonpath=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dateline.backends is not allowed to import dateline.http" in result.stdout
    assert "dateline.backends._base -> dateline.http" in result.stdout


def test_the_backends_load_without_the_edge() -> None:
    code = "import sys, dateline.backends, dateline.config; assert 'starlette' not in sys.modules, 'starlette loaded'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
