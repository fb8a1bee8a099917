"""The version history of the Claude API, as data.

Versions are listed newest first. Each one names the changes it introduced
relative to the version before it; ``dateline versions`` prints this list.
"""

from __future__ import annotations

from . import v2023_06_01, v2026_10_21
from ._change import EventMap, Plan, StreamMigration, StreamMigrator, Version, VersionBundle, VersionChange
from ._schema import FieldExisted, RuleAdded

VERSIONS = VersionBundle(
    Version(
        "2026-10-21",
        *v2026_10_21.CHANGES,
        description=(
            "Sent by default by the official SDKs released with it (Python 2.x, TypeScript 1.x, Go 2.x, …), "
            "with `Authorization: Bearer` for API keys. Changes what a Messages request may contain "
            "(Messages, token counting, and every request of a batch created under it); "
            "responses, stream events, headers and errors are unchanged."
        ),
    ),
    Version("2023-06-01", *v2023_06_01.CHANGES),
    Version("2023-01-01", description="First version."),
)

__all__ = [
    "VERSIONS",
    "FieldExisted",
    "RuleAdded",
    "EventMap",
    "Plan",
    "StreamMigration",
    "StreamMigrator",
    "Version",
    "VersionBundle",
    "VersionChange",
]
