"""A workspace's rate limits: buckets its keys share, beside each key's own.

The workspace is the ``workspace_id`` its keys carry; it needs no other record
than its limits, kept as JSON in the store and held in memory by every process
beside the keys (``KeyRing.workspace_limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from ._key import rfc3339
from ._settings import RateLimits, Workspace


@dataclass(frozen=True, slots=True)
class WorkspaceLimits:
    """A workspace with limits, as the store keeps it."""

    id: str
    rate_limits: RateLimits
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WorkspaceLimits:
        return cls(
            id=row["id"],
            rate_limits=RateLimits.model_validate_json(row["rate_limits"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def describe(self) -> dict[str, Any]:
        """The workspace as the admin API shows it."""
        return {
            "type": "workspace",
            "id": self.id,
            "rate_limits": self.rate_limits.model_dump(),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }


class WorkspacePut(BaseModel):
    """The admin API's body for a workspace's limits: all of them (a rate left out is not limited)."""

    model_config = ConfigDict(extra="forbid")

    rate_limits: RateLimits


class WorkspaceId(BaseModel):
    """A workspace id as keys carry it: 1 to 128 characters."""

    workspace_id: Workspace
