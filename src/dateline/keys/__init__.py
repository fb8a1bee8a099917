"""API keys as objects: kept hashed in the store, each with its own rate
limits, models, spend limit and API versions; found per request in memory.
Workspaces' rate limits, shared by their keys, are kept and held beside them."""

from ._channel import KeyChannel
from ._key import PREFIX, Key, rfc3339
from ._ring import HASH_KEY, KeyRing
from ._settings import KeySettings, RateLimits, UnifiedLimits
from ._workspace import WorkspaceLimits

__all__ = [
    "HASH_KEY",
    "PREFIX",
    "Key",
    "KeyChannel",
    "KeyRing",
    "KeySettings",
    "RateLimits",
    "UnifiedLimits",
    "WorkspaceLimits",
    "rfc3339",
]
