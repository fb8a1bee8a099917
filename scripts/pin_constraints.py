#!/usr/bin/env python
"""Write constraints.txt: every package that `pip install -e '.[test]'` brings in, pinned to the
version installed here.

The closure is walked from pyproject.toml (the dependencies and the `test` extra) through the
installed packages' metadata, with each requirement's extras and markers, so whatever else this
Python happens to hold is left out. Markers are evaluated for this machine; a package only another platform
needs is not pinned.

Usage: python scripts/pin_constraints.py [--check]
"""

from __future__ import annotations

import difflib
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "constraints.txt"
EXTRA = "test"

HEAD = """\
# Every package the test suite installs (the closure of `.[test]`, the project itself left out),
# pinned to the versions it is known to pass with. Used as
#   pip install -c constraints.txt -e '.[test]'
# Generated from a working environment by scripts/pin_constraints.py; after moving a pin in
# pyproject.toml and installing, regenerate with: python scripts/pin_constraints.py
"""


def wanted(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in extras | {""})


def closure() -> dict[str, str]:
    """Installed name -> version for everything the project with its test extra requires."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    roots = project["dependencies"] + project["optional-dependencies"][EXTRA]
    todo = [req for req in map(Requirement, roots) if wanted(req, set())]
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            sys.exit(f"{req.name} is required but not installed: pip install -c constraints.txt -e '.[test]'")
        pins[key[0]] = dist.version
        todo += [sub for sub in map(Requirement, dist.requires or []) if wanted(sub, set(req.extras))]
    return pins


def render(pins: dict[str, str]) -> str:
    return HEAD + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def main() -> None:
    text = render(closure())
    if "--check" in sys.argv:
        current = OUT.read_text() if OUT.exists() else ""
        diff = "".join(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                            "constraints.txt", "installed environment"))
        if diff:
            sys.exit(f"{diff}\nconstraints.txt does not match this environment; run: python scripts/pin_constraints.py")
        return
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10)) - HEAD.count(chr(10))} packages)")


if __name__ == "__main__":
    main()
