#!/usr/bin/env python
"""Compare Dateline's record of the SDK's betas (dateline.betas.SDK_BETAS) with the values of
the installed anthropic SDK's AnthropicBetaParam. Exits 1, naming each value, when they differ.

Usage: python scripts/check_betas.py [--betas PATH]   (PATH: another copy of betas.py)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
import typing
from pathlib import Path

BETAS = Path(__file__).resolve().parents[1] / "src" / "dateline" / "betas.py"


def sdk_betas() -> frozenset[str]:
    """Every literal value of the installed SDK's AnthropicBetaParam (a str | Literal[...] union)."""
    from anthropic.types.anthropic_beta_param import AnthropicBetaParam

    literals = [arg for arg in typing.get_args(AnthropicBetaParam) if typing.get_origin(arg) is typing.Literal]
    return frozenset(value for literal in literals for value in typing.get_args(literal))


def load(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("betas_under_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problems(recorded: frozenset[str], known: frozenset[str], sdk: frozenset[str]) -> list[str]:
    lines = []
    for beta in sorted(sdk - recorded):
        how = "accepted, but listed in OTHER_BETAS" if beta in known else "refused by Dateline today"
        lines.append(f"  + {beta}  (in the SDK, not in SDK_BETAS; {how})")
    for beta in sorted(recorded - sdk):
        lines.append(f"  - {beta}  (in SDK_BETAS, not in the SDK: move it to OTHER_BETAS if the API still serves it)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--betas", type=Path, default=BETAS, help="the betas module to check (default: %(default)s)")
    args = parser.parse_args()

    import anthropic

    module = load(args.betas)
    lines = problems(module.SDK_BETAS, module.KNOWN_BETAS, sdk_betas())
    if lines:
        print(f"{args.betas}: SDK_BETAS differs from anthropic {anthropic.__version__}'s AnthropicBetaParam:")
        print("\n".join(lines))
        sys.exit("update SDK_BETAS in src/dateline/betas.py to the installed SDK's list")
    print(f"SDK_BETAS matches anthropic {anthropic.__version__} ({len(module.SDK_BETAS)} betas)")


if __name__ == "__main__":
    main()
