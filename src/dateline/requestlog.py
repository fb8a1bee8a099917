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

Beside ``FIELDS`` an entry may hold what the inspector shows (``DETAIL``): the
answer as its client got it (the JSON bytes, or a stream's ``Trace``: every
frame with when it went out, the head events beside them when a migration
changed the stream) and when it was answered. A stream's frames are counted
against the log's bytes once it ends (with Redis, the entry is written then).
Readers wait for new entries on ``added``, a count of entries ever added.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from time import perf_counter
from typing import Any

import orjson

from .credentials import REDACTED, is_credential

logger = logging.getLogger("dateline")

FIELDS = ("time", "request_id", "method", "path", "version", "betas", "api_key", "headers", "body", "rule", "status")
_HEADERS, _BODY = FIELDS.index("headers"), FIELDS.index("body")
#: Kept beside FIELDS for the inspector, not shown by ``/_dateline/requests``.
DETAIL = ("answer", "answered")
_ANSWER = len(FIELDS)

#: A stream's events kept at most; the rest are counted (``Trace.dropped``), not kept.
STREAM_EVENTS = 1000

#: A credential shows its last characters only when it is at least this long (real keys are ~100).
SHOWN_FROM = 12
_SHOWN = 4

# Rough costs in memory, beyond the bytes themselves: the tuple and its small values, per header, per frame.
_ENTRY_COST, _HEADER_COST, _FRAME_COST = 1024, 100, 80


class Trace:
    """One streamed answer as its client got it, filled by the edge: the bytes of each
    frame ``sent``, the ``perf_counter()`` ``times`` they went out, and, when a migration
    changed the stream, the head event's frame beside each (``heads``; None where a
    migration added a frame of its own)."""

    __slots__ = ("log", "zero", "times", "sent", "heads", "dropped", "charged", "values", "ended")

    def __init__(self, log: RequestLog, received: float, migrated: bool) -> None:
        self.log = log
        #: The ``perf_counter()`` of the request's arrival, so that frames read as seconds since it.
        self.zero = perf_counter() - (time.time() - received)
        self.times: list[float] = []
        self.sent: list[bytes] = []
        self.heads: list[bytes | None] | None = [] if migrated else None
        self.dropped = 0
        self.charged = 0
        self.values: tuple[Any, ...] | None = None
        self.ended = False

    def end(self) -> None:
        """The stream is over (however it ended): its frames count now."""
        self.ended = True
        self.log.finish(self)

    def cost(self) -> int:
        heads = sum(map(len, filter(None, self.heads))) if self.heads else 0
        return sum(map(len, self.sent)) + heads + _FRAME_COST * len(self.sent)


class RequestLog:
    """The last ``size`` requests within ``max_bytes``, oldest first; thread-safe."""

    def __init__(self, size: int = 1000, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._entries: deque[tuple[int, tuple[Any, ...]]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        #: Entries ever added (readers wait for it to move).
        self.added = 0
        #: Set when an entry arrives, while someone waits for one.
        self._arrival: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def add(self, *values: Any) -> None:
        """One entry: the values of ``FIELDS``, in order (``headers`` a list of byte pairs, ``body`` bytes),
        then optionally those of ``DETAIL`` (``answer`` bytes or a ``Trace``, ``answered`` a time)."""
        if not self.size:
            return
        cost = _cost(values)
        if cost > self.max_bytes:
            values = _without_bodies(values)
            cost = _cost(values)
        if len(values) > _ANSWER and type(values[_ANSWER]) is Trace:
            values[_ANSWER].values = values  # while kept: its frames count once it ends
        with self._lock:
            self._entries.append((cost, values))
            self._bytes += cost
            self.added += 1
            self._trim()
        if self._arrival is not None:
            self._arrived()

    def _trim(self) -> None:
        while len(self._entries) > self.size or (self._bytes > self.max_bytes and len(self._entries) > 1):
            cost, values = self._entries.popleft()
            self._bytes -= cost + _dropped(values)

    def _arrived(self) -> None:
        arrival, self._arrival = self._arrival, None
        if arrival is not None:
            loop, event = arrival
            loop.call_soon_threadsafe(event.set)

    def finish(self, trace: Trace) -> None:
        """A stream's frames, counted once it ended; all of them dropped if they alone outgrow the log."""
        cost = trace.cost()
        if cost > self.max_bytes:
            trace.dropped += len(trace.sent)
            trace.times, trace.sent, trace.heads = [], [], None if trace.heads is None else []
            cost = 0
        with self._lock:
            if trace.values is None:
                return  # its entry is gone already
            trace.charged = cost
            self._bytes += cost
            self._trim()
        if self._arrival is not None:
            self._arrived()  # a reader showing it streaming shows it ended

    async def wait(self, seen: int, timeout: float) -> int:
        """``added`` once it is past ``seen`` or a stream has ended, or after ``timeout`` seconds."""
        if self.added > seen:
            return self.added
        if self._arrival is None:
            self._arrival = (asyncio.get_running_loop(), asyncio.Event())
        event = self._arrival[1]
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        return self.added

    async def since(self, seen: int) -> tuple[int, list[dict[str, Any]]]:
        """``added``, and the entries (``detailed``) added after the first ``seen`` that are still kept."""
        with self._lock:
            added, kept = self.added, len(self._entries)
            newer = [values for _, values in list(self._entries)[kept - min(kept, added - seen) :]]
        return added, [detailed(values) for values in newer]

    async def find(self, request_id: str) -> dict[str, Any] | None:
        """The entry of ``request_id`` (``detailed``), if still kept."""
        with self._lock:
            found = next((values for _, values in reversed(self._entries) if values[1] == request_id), None)
        return None if found is None else detailed(found)

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
            for _, values in self._entries:
                _dropped(values)
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
    """The log in Redis, one list for every replica (``{prefix}``, its bytes in ``{prefix}:bytes``,
    the entries ever added in ``{prefix}:added``).

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
    redis.call('INCRBY', KEYS[3], #ARGV - 2)
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

    #: Seconds between a waiting reader's looks at ``{prefix}:added``.
    POLL = 0.25

    def add(self, *values: Any) -> None:
        if not self.size:
            return
        answer = values[_ANSWER] if len(values) > _ANSWER else None
        if type(answer) is Trace:
            answer.values = values  # written once the stream has ended, frames and all
            return
        self._write(values)

    def finish(self, trace: Trace) -> None:
        if trace.values is not None:
            self._write(trace.values)

    def _write(self, values: tuple[Any, ...]) -> None:
        entry = orjson.dumps(detailed(values))
        if len(entry) > self.max_bytes:
            entry = orjson.dumps(detailed(_without_bodies(values)))
        self._pending.append(entry)
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._async.eval(
                    self._APPEND,
                    3,
                    self.prefix,
                    f"{self.prefix}:bytes",
                    f"{self.prefix}:added",
                    self.size,
                    self.max_bytes,
                    *batch,
                )
            except Exception:
                logger.warning("request log: entries not written to Redis", exc_info=True)

    @property
    def bytes(self) -> int:
        return int(self._sync.get(f"{self.prefix}:bytes") or 0)

    def entries(self) -> list[dict[str, Any]]:
        return [_fields(orjson.loads(entry)) for entry in self._sync.lrange(self.prefix, 0, -1)]

    async def read(self) -> list[dict[str, Any]]:
        if self._sending is not None:
            await asyncio.shield(self._sending)  # this process's own entries first
        return [_fields(orjson.loads(entry)) for entry in await self._async.lrange(self.prefix, 0, -1)]

    async def _added(self) -> int:
        return int(await self._async.get(f"{self.prefix}:added") or 0)

    async def wait(self, seen: int, timeout: float) -> int:
        deadline = perf_counter() + timeout
        while (added := await self._added()) <= seen and perf_counter() < deadline:
            await asyncio.sleep(self.POLL)
        return added

    async def since(self, seen: int) -> tuple[int, list[dict[str, Any]]]:
        added = await self._added()
        newer = min(added - seen, self.size)
        if newer <= 0:
            return added, []
        return added, [orjson.loads(entry) for entry in await self._async.lrange(self.prefix, -newer, -1)]

    async def find(self, request_id: str) -> dict[str, Any] | None:
        for raw in reversed(await self._async.lrange(self.prefix, 0, -1)):
            entry = orjson.loads(raw)
            if entry["request_id"] == request_id:
                return entry
        return None

    def clear(self) -> None:
        self._pending.clear()
        self._sync.delete(self.prefix, f"{self.prefix}:bytes")  # not :added: readers wait on it

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
    if len(values) > _ANSWER and type(values[_ANSWER]) is bytes:
        cost += len(values[_ANSWER])
    return cost


def _dropped(values: tuple[Any, ...]) -> int:
    """An entry leaving the log: what its stream's frames were counted as (0 until it ended)."""
    answer = values[_ANSWER] if len(values) > _ANSWER else None
    if type(answer) is not Trace:
        return 0
    answer.values = None
    return answer.charged


def _without_bodies(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """An entry too big for the whole log: kept without its body or its answer."""
    kept = list(values)
    kept[_BODY] = None
    if len(kept) > _ANSWER and type(kept[_ANSWER]) is bytes:
        kept[_ANSWER] = None
    return tuple(kept)


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as ``/_dateline/requests`` shows it: ``FIELDS`` only."""
    return {name: entry[name] for name in FIELDS}


def detailed(values: tuple[Any, ...]) -> dict[str, Any]:
    """An entry as the inspector reads it: ``FIELDS`` made readable, and the answer.

    ``answer`` is the JSON the client got (None when it was a stream, or not
    kept); ``events`` a stream's frames as ``[seconds since arrival, text sent,
    head event's text or None]``; ``dropped`` the frames not kept; ``streaming``
    whether a stream is still going; ``answered`` when the answer was complete
    (a stream's last frame), if known.
    """
    entry = _readable(values)
    answer = values[_ANSWER] if len(values) > _ANSWER else None
    entry["answer"], entry["events"], entry["dropped"] = None, None, 0
    entry["answered"] = values[_ANSWER + 1] if len(values) > _ANSWER + 1 else None
    entry["migrated"] = entry["streaming"] = False
    if type(answer) is bytes:
        try:
            entry["answer"] = orjson.loads(answer) if answer else None
        except orjson.JSONDecodeError:
            entry["answer"] = answer.decode("utf-8", "replace")
    elif type(answer) is Trace:
        zero = answer.zero
        heads = answer.heads if answer.heads is not None else itertools.repeat(None)
        entry["events"] = [
            [
                round(at - zero, 6),
                sent.decode("utf-8", "replace"),
                None if head is None else head.decode("utf-8", "replace"),
            ]
            for at, sent, head in zip(answer.times, answer.sent, heads)
        ]
        entry["dropped"], entry["streaming"] = answer.dropped, not answer.ended
        entry["migrated"] = answer.heads is not None
        if entry["events"]:
            entry["answered"] = entry["time"] + entry["events"][-1][0]
    return entry


def _readable(values: tuple[Any, ...]) -> dict[str, Any]:
    entry = dict(zip(FIELDS, values))  # DETAIL's values, if any, left out
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
