"""README's "Models and limits" table is generated from the catalog
(scripts/gen_model_table.py): it must match src/dateline/models.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def gen_model_table(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/gen_model_table.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_readme_table_matches_the_catalog() -> None:
    run = gen_model_table("--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.endswith("the models table matches the catalog\n")


def test_a_stale_table_fails_the_check_with_its_diff(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    row = "| `claude-opus-4-8` |  | 1,000,000 | 128,000 |"
    assert row in text
    stale.write_text(text.replace(row, "| `claude-opus-4-8` |  | 1,000,000 | 64,000 |"), encoding="utf-8")
    run = gen_model_table("--check", "--readme", str(stale))
    assert run.returncode == 1
    changed = [line for line in run.stdout.splitlines() if line[:1] in "-+" and "claude-opus-4-8" in line]
    assert [line[:40] for line in changed] == [
        "-| `claude-opus-4-8` |  | 1,000,000 | 64",
        "+| `claude-opus-4-8` |  | 1,000,000 | 12",
    ]
    assert "regenerate with: python scripts/gen_model_table.py" in run.stderr
    assert "64,000 |" in stale.read_text(encoding="utf-8")  # --check writes nothing


def test_writing_fills_the_markers_and_leaves_the_rest(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n<!-- model-table:begin -->\nold\n<!-- model-table:end -->\n\nAfter.\n", encoding="utf-8"
    )
    assert gen_model_table("--readme", str(readme)).returncode == 0
    once = readme.read_text(encoding="utf-8")
    assert once.startswith("# Title\n\n<!-- model-table:begin -->\n") and once.endswith(
        "<!-- model-table:end -->\n\nAfter.\n"
    )
    assert "old" not in once and "| `claude-haiku-5-5` |" in once and "retired 2024-11-06" in once
    assert gen_model_table("--readme", str(readme)).returncode == 0
    assert readme.read_text(encoding="utf-8") == once  # a second run changes nothing


def test_without_markers_the_script_says_so(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n", encoding="utf-8")
    run = gen_model_table("--readme", str(readme))
    assert run.returncode == 1 and "<!-- model-table:begin -->" in run.stderr
    assert readme.read_text(encoding="utf-8") == "# Title\n"
