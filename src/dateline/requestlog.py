"""The log of requests received, for tests to read back (``/_dateline/requests``).

Recording happens on every request, so an entry is kept as a tuple of what
the server already holds (headers and body as raw bytes) and made readable
only when someone reads the log: the body parsed, and every credential
redacted down to its last few characters, enough to tell keys apart.

The log is bounded twice: by entries (``size``) and by the bytes they hold
(``max_bytes``), oldest dropped first. An entry bigger than the whole log is
kept without its body.

With Redis (``SharedRequestLog``) every replica writes to one log, under the
same bounds; there an entry is made readable, credentials redacted, before it
leaves the process, so that nothing secret is ever stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any

import orjson

from .credentials import REDACTED, is_credential

logger = logging.getLogger("dateline")

FIELDS = ("time", "request_id", "method", "path", "version", "betas", "api_key", "headers", "body", "rule", "status")
_HEADERS, _BODY = FIELDS.index("headers"), FIELDS.index("body")

#: A credential shows its last characters only when it is at least this long (real keys are ~100).
SHOWN_FROM = 12
_SHOWN = 4

# Rough costs in memory, beyond the bytes themselves: the tuple and its small values, and per header.
_ENTRY_COST, _HEADER_COST = 1024, 100


class RequestLog:
    """The last ``size`` requests within ``max_bytes``, oldest first; thread-safe."""

    def __init__(self, size: int = 1000, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._entries: deque[tuple[int, tuple[Any, ...]]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, *values: Any) -> None:
        """One entry: the values of ``FIELDS``, in order (``headers`` a list of byte pairs, ``body`` bytes)."""
        if not self.size:
            return
        cost = _cost(values)
        if cost > self.max_bytes:
            values = (*values[:_BODY], None, *values[_BODY + 1 :])
            cost = _cost(values)
        with self._lock:
            self._entries.append((cost, values))
            self._bytes += cost
            while len(self._entries) > self.size or (self._bytes > self.max_bytes and len(self._entries) > 1):
                self._bytes -= self._entries.popleft()[0]

    @property
    def bytes(self) -> int:
        """What the entries kept hold, roughly, in bytes."""
        return self._bytes

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = [values for _, values in self._entries]
        return [_readable(entry) for entry in entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    async def read(self) -> list[dict[str, Any]]:
        """``entries``, as the admin API reads them (awaited: ``SharedRequestLog`` reads Redis)."""
        return self.entries()

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class SharedRequestLog(RequestLog):
    """The log in Redis, one list for every replica (``{prefix}``, its bytes in ``{prefix}:bytes``).

    Nothing secret may land there: an entry is made readable, credentials
    redacted, before it leaves the process (in-process, that waits until the
    log is read). Writes leave the request's path: entries are sent in the
    background, several at once, each batch one script that also drops the
    oldest past ``size`` entries or ``max_bytes`` (of JSON).
    """

    _APPEND = """
    local size, max = tonumber(ARGV[1]), tonumber(ARGV[2])
    local n, total = 0, 0
    for i = 3, #ARGV do
        n = redis.call('RPUSH', KEYS[1], ARGV[i])
        total = redis.call('INCRBY', KEYS[2], string.len(ARGV[i]))
    end
    while n > size or (total > max and n > 1) do
        total = redis.call('DECRBY', KEYS[2], string.len(redis.call('LPOP', KEYS[1])))
        n = n - 1
    end
    return n
    """

    def __init__(
        self, redis_url: str, size: int = 1000, max_bytes: int = 32 * 1024 * 1024, *, prefix: str = "dateline:requests"
    ) -> None:
        import redis
        import redis.asyncio

        super().__init__(size, max_bytes)
        self.prefix = prefix
        self._sync = redis.Redis.from_url(redis_url)
        self._async = redis.asyncio.Redis.from_url(redis_url)
        self._pending: list[bytes] = []
        self._sending: Any = None

    def add(self, *values: Any) -> None:
        if not self.size:
            return
        entry = orjson.dumps(_readable(values))
        if len(entry) > self.max_bytes:
            entry = orjson.dumps(_readable((*values[:_BODY], None, *values[_BODY + 1 :])))
        self._pending.append(entry)
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._async.eval(
                    self._APPEND, 2, self.prefix, f"{self.prefix}:bytes", self.size, self.max_bytes, *batch
                )
            except Exception:
                logger.warning("request log: entries not written to Redis", exc_info=True)

    @property
    def bytes(self) -> int:
        return int(self._sync.get(f"{self.prefix}:bytes") or 0)

    def entries(self) -> list[dict[str, Any]]:
        return [orjson.loads(entry) for entry in self._sync.lrange(self.prefix, 0, -1)]

    async def read(self) -> list[dict[str, Any]]:
        if self._sending is not None:
            await asyncio.shield(self._sending)  # this process's own entries first
        return [orjson.loads(entry) for entry in await self._async.lrange(self.prefix, 0, -1)]

    def clear(self) -> None:
        self._pending.clear()
        self._sync.delete(self.prefix, f"{self.prefix}:bytes")

    async def aclose(self) -> None:
        if self._sending is not None:
            await self._sending
        await self._async.aclose()
        self._sync.close()


def redact(value: str) -> str:
    """A credential as the log shows it: ``[redacted]…abcd``; an ``Authorization``-style
    value keeps its scheme (``Bearer [redacted]…abcd``)."""
    scheme, space, token = value.strip().partition(" ")
    if space and scheme.isalpha() and token.strip():
        return f"{scheme} {_tail(token.strip())}"
    return _tail(value.strip())


def _tail(secret: str) -> str:
    return f"{REDACTED}…{secret[-_SHOWN:]}" if len(secret) >= SHOWN_FROM else REDACTED


def _cost(values: tuple[Any, ...]) -> int:
    headers, body = values[_HEADERS], values[_BODY]
    cost = _ENTRY_COST + (len(body) if isinstance(body, (bytes, str)) else 0)
    if headers:
        cost += sum(len(name) + len(value) + _HEADER_COST for name, value in headers)
    return cost


def _readable(values: tuple[Any, ...]) -> dict[str, Any]:
    entry = dict(zip(FIELDS, values))
    headers = entry["headers"]
    if headers is None:
        entry["headers"] = {}
    elif isinstance(headers, list):
        readable = {}
        for name, value in headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            readable[key] = redact(text) if is_credential(key) else text
        entry["headers"] = readable
    body = entry["body"]
    if isinstance(body, bytes):
        try:
            entry["body"] = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            entry["body"] = None
    if entry["api_key"] is not None:
        entry["api_key"] = _tail(entry["api_key"])
    return entry
