"""The log of requests received, for tests to read back (``/_dateline/requests``)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any


class RequestLog:
    """The last ``size`` requests, oldest first; thread-safe."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._entries: deque[dict[str, Any]] = deque(maxlen=size or None)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        if self.size:
            entry.setdefault("time", time.time())
            with self._lock:
                self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries)
        return [_readable(entry) for entry in entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _readable(entry: dict[str, Any]) -> dict[str, Any]:
    # Headers are kept as the server got them (a list of byte pairs): decoding
    # them only when someone reads the log keeps recording cheap.
    headers = entry.get("headers")
    if isinstance(headers, list):
        entry = {**entry, "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}}
    return entry
