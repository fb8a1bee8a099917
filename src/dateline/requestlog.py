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
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
