"""The version history of the Claude API, as data.

Versions are listed newest first. Each one names the changes it introduced
relative to the version before it; ``dateline versions`` prints this list.
"""

from __future__ import annotations

from . import v2023_06_01
from ._change import EventMap, Plan, StreamMigration, StreamMigrator, Version, VersionBundle, VersionChange

VERSIONS = VersionBundle(
    Version(
        "2026-10-21",
        description=(
            "Sent by the official SDKs released in late 2026 (Python 2.x, TypeScript 1.x) on every request, "
            "with `Authorization: Bearer` for API keys. No public description of its changes exists, "
            "so it is served exactly as 2023-06-01."
        ),
    ),
    Version("2023-06-01", *v2023_06_01.CHANGES),
    Version("2023-01-01", description="First version."),
)

__all__ = ["VERSIONS", "EventMap", "Plan", "StreamMigration", "StreamMigrator", "Version", "VersionBundle", "VersionChange"]
