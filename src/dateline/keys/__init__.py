"""API keys as objects: kept hashed in the store, each with its own rate
limits, models, spend limit and API versions; found per request in memory."""

from ._channel import KeyChannel
from ._key import PREFIX, Key, rfc3339
from ._ring import HASH_KEY, KeyRing
from ._settings import KeySettings, RateLimits, UnifiedLimits

__all__ = [
    "HASH_KEY",
    "PREFIX",
    "Key",
    "KeyChannel",
    "KeyRing",
    "KeySettings",
    "RateLimits",
    "UnifiedLimits",
    "rfc3339",
]
