"""Smoke test of the benchmark: a very short run of ``bench/run.py`` works end
to end and reports every row (targets are not judged here: a quick run on a
busy machine is too noisy for that); and the bench scripts share the harness
modules, never ``bench/run.py`` itself."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

EXPECTED_ROWS = [
    "Floor: minimal Starlette app",
    "Dateline messages, non-streaming",
    "Dateline messages, streaming",
    "Dateline messages stream: events/s",
    "Dateline messages stream: time to first event",
    "Dateline complete stream, 2023-06-01",
    "Dateline complete stream, 2023-01-01",
    "Dateline count_tokens",
    "Upstream alone: fixed-reply OpenAI chat completions, 32 connections",
    "Dateline → OpenAI upstream, messages, non-streaming, 32 connections",
    "Upstream alone, 1 connection",
    "Dateline → OpenAI upstream, 1 connection",
    "Dateline → OpenAI upstream: added p50, 1 connection",
    "Dateline → OpenAI upstream: added p99, 1 connection",
    "Dateline → OpenAI upstream: added latency, 32 connections",
    "Dateline RSS, idle",
    "Dateline RSS, 100 open streams",
    "Dateline batch of 1,000, SQLite",
    "Dateline batch of 1,000, PostgreSQL",
]


def have_wrk() -> bool:
    """wrk, installed with apt-get when missing (as the benchmark itself does)."""
    if shutil.which("wrk"):
        return True
    for command in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        try:
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if shutil.which("wrk"):
            return True
    return False


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| measure"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def test_quick_run_reports_every_row(tmp_path: Path) -> None:
    if not have_wrk():
        pytest.skip("wrk is not installed and `apt-get install -y wrk` could not install it")
    output = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--no-litellm", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    markdown = output.read_text()
    assert markdown.strip() in result.stdout
    rows = table_rows(markdown)
    for expected in EXPECTED_ROWS:
        matching = [name for name in rows if name.startswith(expected)]
        assert matching, f"no row {expected!r} in:\n{markdown}"
        figure = rows[matching[0]][0]
        assert not figure.startswith(("failed", "not measured")), f"{matching[0]}: {figure}"
    assert not any(name.startswith("LiteLLM") for name in rows)
    # Throughput rows carry a number, and ratios to the floor measured in the same run.
    assert re.fullmatch(r"[\d,.]+", rows[next(n for n in rows if n.startswith("Dateline count_tokens"))][0])
    assert rows[next(n for n in rows if n.startswith("Dateline messages, non-streaming"))][3].endswith("×")
    # The proxy's added latency is Dateline's figure less the upstream's, measured in the same run.
    added = rows[next(n for n in rows if n.startswith("Dateline → OpenAI upstream: added p50, 1 connection"))]
    assert re.fullmatch(r"[+−][\d.]+ m?s", added[1]), added
    # The load parameters and machine facts head the report.
    for fact in ("nproc", "python", "uvicorn", "wrk -t1 -c32 -d1s"):
        assert fact in markdown


def imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_full_run_is_built_on_run_py() -> None:
    modules = {path.stem: imported_modules(path.read_text()) for path in BENCH.glob("*.py")}
    assert {"batch", "proxy", "servers", "load", "report"} <= modules.keys()
    importers = sorted(name for name, imports in modules.items() if "run" in imports)
    assert importers == [], f"bench/run.py is imported by {importers}: share the harness modules instead"
    assert {"servers", "load"} <= modules["batch"] and {"servers", "load"} <= modules["proxy"]
