"""The log of requests received, for tests to read back (``/_dateline/requests``).

Recording happens on every request, so an entry is kept as a tuple of what
the server already holds (headers as raw bytes) and made readable only when
someone reads the log.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

FIELDS = ("time", "request_id", "method", "path", "version", "betas", "api_key", "headers", "body", "rule", "status")


class RequestLog:
    """The last ``size`` requests, oldest first; thread-safe."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=size or None)
        self._lock = threading.Lock()

    def add(self, *values: Any) -> None:
        """One entry: the values of ``FIELDS``, in order."""
        if self.size:
            self._entries.append(values)  # a single append needs no lock

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries)
        return [_readable(entry) for entry in entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _readable(values: tuple[Any, ...]) -> dict[str, Any]:
    entry = dict(zip(FIELDS, values))
    headers = entry["headers"]
    if isinstance(headers, list):
        entry["headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
    return entry
