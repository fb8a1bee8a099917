"""Rate limits as the API enforces them: token buckets per key (and per workspace when
set) for requests, input tokens and output tokens per minute, refilling continuously;
optionally the "unified" subscription windows (5 hours, 7 days) of a key.

One interface, ``Limiter``, two implementations: ``MemoryLimiter`` (one process) and
``RedisLimiter`` (every replica sharing one Redis). A request:

1. ``admit(subject, input_tokens=...)`` before it runs: takes one request and its
   uncached input (``uncached_input``: cache reads are not counted) from every bucket, or nothing; output
   buckets must not be in debt. Refused: ``admission.error(...)`` is the 429.
2. ``charge(subject, output_tokens=..., input_tokens=..., quota=...)`` as output is
   produced (streams: as they go or at their end): output tokens are charged as
   produced, not reserved from ``max_tokens``, so a bucket can go into debt, which the
   next admission waits out. A negative ``input_tokens`` gives back an overestimate.
3. ``headers(snapshot)`` for the response (an admission carries its snapshot).

Why not the ``limits`` library: it offers fixed, moving and sliding windows, not token
buckets refilling continuously, and cannot take from several limits at once or not at
all; one Lua script does both in one round trip.
"""

from __future__ import annotations

from typing import Protocol

from ._answer import (
    UNIFIED_REJECTED,
    WARNING_THRESHOLD,
    Admission,
    SpendLimitError,
    headers,
    next_month,
    rate_limit_headers,
    refusal_message,
    rfc3339,
    spend_limit_error,
    unified_headers,
)
from ._memory import MemoryLimiter
from ._model import (
    FIVE_HOUR,
    INPUT,
    KINDS,
    OUTPUT,
    REQUESTS,
    SEVEN_DAY,
    Bucket,
    Level,
    Limits,
    Quota,
    Shortfall,
    Snapshot,
    Subject,
    Window,
    WindowUse,
    uncached_input,
)
from ._redis import RedisLimiter

__all__ = [
    "FIVE_HOUR",
    "INPUT",
    "KINDS",
    "OUTPUT",
    "REQUESTS",
    "SEVEN_DAY",
    "UNIFIED_REJECTED",
    "WARNING_THRESHOLD",
    "Admission",
    "Bucket",
    "Level",
    "Limiter",
    "Limits",
    "MemoryLimiter",
    "Quota",
    "RedisLimiter",
    "Shortfall",
    "Snapshot",
    "SpendLimitError",
    "Subject",
    "Window",
    "WindowUse",
    "headers",
    "next_month",
    "rate_limit_headers",
    "refusal_message",
    "rfc3339",
    "spend_limit_error",
    "uncached_input",
    "unified_headers",
]


class Limiter(Protocol):
    async def admit(self, subject: Subject, *, input_tokens: int = 0) -> Admission:
        """Take what a request needs from every bucket, or nothing (then say what fell short)."""
        ...

    async def charge(
        self, subject: Subject, *, input_tokens: int = 0, output_tokens: int = 0, quota: float = 0
    ) -> Snapshot:
        """Take tokens as they are produced (into debt if need be); add ``quota`` to the unified windows."""
        ...

    async def snapshot(self, subject: Subject) -> Snapshot:
        """The buckets and windows as they are, taking nothing."""
        ...

    async def aclose(self) -> None: ...
