#!/usr/bin/env python
"""Write the "Models and limits" table into README.md from the model catalog
(src/dateline/models.toml), between the marker comments:

    <!-- model-table:begin -->
    ...
    <!-- model-table:end -->

One row per model, newest first: id, aliases, context window, max output, the
thinking types and effort levels it accepts, its minimum cacheable prompt, the
per-model rules the catalog declares, and its lifecycle; then what each rule means.

Usage: python scripts/gen_model_table.py [--check] [--readme FILE]
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from dateline.catalog import FEATURE_WORDS, Catalog, ModelInfo

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- model-table:begin -->"
END = "<!-- model-table:end -->"

#: The feature words that are per-model rules on requests (thinking's own are in its column).
RULES = ("no_forced_tool", "no_prefill", "no_sampling", "system_mid", "window_stop")
HEADER = ("Model", "Aliases", "Context", "Max output", "Thinking", "Effort", "Min cached prompt", "Rules", "Lifecycle")


def table(models: list[ModelInfo]) -> str:
    """The table and its legend, in Markdown."""
    lines = [_row(HEADER), _row(("---",) * len(HEADER))]
    lines += [_row(_cells(info)) for info in models]
    lines += ["", "Rules, as the catalog's feature words:", ""]
    lines += [f"- `{word}`: {FEATURE_WORDS[word]}" for word in RULES]
    lines += [f"- `disabled (effort ≤ high)`: {FEATURE_WORDS['low_disable']}"]
    return "\n".join(lines) + "\n"


def _cells(info: ModelInfo) -> tuple[str, ...]:
    return (
        f"`{info.id}`",
        ", ".join(f"`{alias}`" for alias in info.aliases),
        f"{info.max_input_tokens:,}",
        f"{info.max_tokens:,}",
        _thinking(info),
        _effort(info),
        f"{info.cache_min_tokens:,}",
        ", ".join(f"`{word}`" for word in RULES if info.has(word)),
        _lifecycle(info),
    )


def _thinking(info: ModelInfo) -> str:
    if not (info.supports_thinking or info.has("between")):
        return "—"
    kinds = info.thinking_types
    return ", ".join(
        "disabled (effort ≤ high)" if kind == "disabled" and info.has("low_disable") else kind for kind in kinds
    )


def _effort(info: ModelInfo) -> str:
    if not info.effort_levels:
        return "—"
    return f"{', '.join(info.effort_levels)}; default {info.default_effort}"


def _lifecycle(info: ModelInfo) -> str:
    if info.lifecycle == "retired":
        return f"retired {info.retires_at[:10]}"
    if info.lifecycle == "deprecated":
        return f"deprecated, retires {info.retires_at[:10]}" if info.retires_at else "deprecated"
    return info.lifecycle


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cells) + " |"


def render(readme: str, generated: str) -> str:
    """The README with ``generated`` between the markers (each on a line of its own)."""
    block = re.compile(rf"^{re.escape(BEGIN)}\n.*?^{re.escape(END)}$", re.MULTILINE | re.DOTALL)
    if len(block.findall(readme)) != 1:
        raise SystemExit(f"README needs the lines {BEGIN} and {END}, once each, in that order")
    note = "<!-- Generated from src/dateline/models.toml by scripts/gen_model_table.py: edit those, not this. -->"
    return block.sub(lambda _: f"{BEGIN}\n{note}\n\n{generated}\n{END}", readme)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the models table into README.md from the catalog.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if the table is stale")
    parser.add_argument("--readme", type=Path, default=README, help="the README (default: %(default)s)")
    args = parser.parse_args()
    current = args.readme.read_text(encoding="utf-8")
    text = render(current, table(Catalog.default().list()))
    if args.check:
        diff = "".join(
            difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(args.readme), "generated")
        )
        if diff:
            sys.stdout.write(diff)
            sys.exit(f"{args.readme}: the models table is stale; regenerate with: python scripts/gen_model_table.py")
        print(f"{args.readme}: the models table matches the catalog")
        return
    args.readme.write_text(text, encoding="utf-8")
    print(f"wrote the models table into {args.readme}")


if __name__ == "__main__":
    main()
