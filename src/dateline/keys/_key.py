"""An API key: who it is, its secret as only a keyed hash, and what it may do.

Secrets look like the API's (``sk-ant-api03-…AA``) and carry some 550 bits of
randomness, so a keyed hash (HMAC-SHA256) is enough to keep them: no guess
can find one, and no slow key-derivation function is needed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ._settings import KeySettings, RateLimits

PREFIX = "sk-ant-api03-"
#: How much of a secret its hint shows: the first characters and the last few, as the Console does.
_HEAD, _TAIL = 16, 4


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    name: str
    #: What is shown of the secret: ``sk-ant-api03-R2D...igAA``.
    partial_key_hint: str
    workspace_id: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    settings: KeySettings
    #: Its workspace's limits, as this process last read them (None: none); set by the
    #: ring, so a key object is replaced whenever they change.
    workspace_limits: RateLimits | None = None

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    @property
    def limited(self) -> bool:
        """Whether any limit applies: the key's own, or its workspace's."""
        return self.workspace_limits is not None or self.settings.limited

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Key:
        return cls(
            id=row["id"],
            name=row["name"],
            partial_key_hint=row["partial_key_hint"],
            workspace_id=row["workspace_id"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
            settings=KeySettings.model_validate_json(row["settings"]),
        )

    def describe(self) -> dict[str, Any]:
        """The key as the admin API shows it (never its secret)."""
        return {
            "type": "api_key",
            "id": self.id,
            "name": self.name,
            "partial_key_hint": self.partial_key_hint,
            "workspace_id": self.workspace_id,
            "status": "active" if self.live else "revoked",
            "created_at": rfc3339(self.created_at),
            "last_used_at": rfc3339(self.last_used_at),
            "revoked_at": rfc3339(self.revoked_at),
            **self.settings.model_dump(),
        }


def new_secret() -> str:
    return f"{PREFIX}{secrets.token_urlsafe(70)[:93]}AA"


def hint(secret: str) -> str:
    return f"{secret[:_HEAD]}...{secret[-_TAIL:]}"


def digest(hash_key: bytes, secret: str) -> bytes:
    """The keyed hash a secret is found by. A header's value arrives decoded as
    latin-1; any other character still hashes, to nothing that matches."""
    return hmac.digest(hash_key, secret.encode("utf-8", "surrogatepass"), "sha256")


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
