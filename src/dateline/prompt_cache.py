"""Prompt caching, emulated: which prefix a request reads from the cache and
which it writes, and the usage that follows.

The prompt is a row of positions in cache order: each tool definition, each
system block, each message's blocks (``tokenizer.positions``). A block with
``cache_control`` is a breakpoint; the request's own ``cache_control`` puts
one on the last block that can carry it. An entry is the hash of the whole
prefix up to a breakpoint, under the model and the scope (a keyed hash of
the API key), so another key or another model never reads it.

A request reads the longest prefix an earlier request wrote, looking back
from each breakpoint over at most 20 positions (the breakpoint the first), and
writes at each breakpoint past it whose prefix reaches the model's minimum.
Its entries are readable once its answer begins (``commit``), so concurrent
identical requests both miss; a hit refreshes the entry's time to live.

Entries live behind ``CacheState`` (string keys, seconds to live), in this
process by default or in Redis, shared by every replica (``RedisCacheState``);
time comes from a ``Clock`` that tests may move forward (always this
process's own).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from . import tokenizer
from .catalog import Catalog, ModelInfo
from .types import Event, EventStream

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Seconds an entry lives, by ``cache_control.ttl`` (default ``5m``).
TTLS = {"5m": 300, "1h": 3600}
#: Positions a breakpoint looks back over for an entry, itself included.
LOOKBACK = 20
#: Blocks that cannot carry ``cache_control``: the automatic breakpoint walks back past them.
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})
#: A request bigger than this (bytes of JSON) is hashed and counted in a worker thread.
_THREAD_BYTES = 256 * 1024


class Clock:
    """Seconds since the epoch, plus however far it has been moved forward."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self.offset = 0.0

    def now(self) -> float:
        return self._now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class CacheState(Protocol):
    """Where entries live: string keys, each with its time to live in seconds."""

    async def get(self, keys: Sequence[str]) -> list[int | None]:
        """For each key, the time to live of its live entry, or None."""
        ...

    async def put(self, key: str, ttl: int) -> None:
        """Write an entry that lives ``ttl`` seconds from now."""
        ...

    async def refresh(self, key: str, ttl: int) -> None:
        """A live entry lives ``ttl`` seconds from now; a missing one stays missing."""
        ...

    async def clear(self) -> None: ...


class MemoryCacheState:
    """Entries in this process, the oldest written dropped past ``max_entries``."""

    def __init__(self, clock: Clock, max_entries: int = 100_000) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (expires, ttl)

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, keys: Sequence[str]) -> list[int | None]:
        now = self.clock.now()
        out: list[int | None] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= now:
                del self._entries[key]
                entry = None
            out.append(None if entry is None else entry[1])
        return out

    async def put(self, key: str, ttl: int) -> None:
        self._entries[key] = (self.clock.now() + ttl, ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def refresh(self, key: str, ttl: int) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self.clock.now():
            self._entries[key] = (self.clock.now() + ttl, ttl)

    async def clear(self) -> None:
        self._entries.clear()


class RedisCacheState:
    """Entries in Redis, shared by every replica: ``{prefix}{key}`` holds when the entry
    expires (on the writer's ``Clock``) and its TTL, and Redis drops it that long after.

    The clock stays per process: ``/_dateline/prompt-cache/clock`` moves the clock of the
    replica asked, and an entry read there expires by that clock (Redis still drops it
    after its real TTL has passed).
    """

    def __init__(self, redis: Redis, clock: Clock, *, prefix: str = "dateline:prompt-cache:") -> None:
        self.redis = redis
        self.clock = clock
        self.prefix = prefix

    async def get(self, keys: Sequence[str]) -> list[int | None]:
        if not keys:
            return []
        now = self.clock.now()
        out: list[int | None] = []
        for stored in await self.redis.mget([self.prefix + key for key in keys]):
            expires, _, ttl = (stored or b"").partition(b"|")
            out.append(int(ttl) if stored is not None and float(expires) > now else None)
        return out

    async def put(self, key: str, ttl: int) -> None:
        await self.redis.set(self.prefix + key, f"{self.clock.now() + ttl}|{ttl}", ex=ttl)

    # Only a live entry, by this process's clock: a missing or expired one stays so.
    _REFRESH = """
    local stored = redis.call('GET', KEYS[1])
    if stored and tonumber(string.match(stored, '^[^|]+')) > tonumber(ARGV[1]) then
        redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    end
    """

    async def refresh(self, key: str, ttl: int) -> None:
        now = self.clock.now()
        await self.redis.eval(self._REFRESH, 1, self.prefix + key, repr(now), f"{now + ttl}|{ttl}", ttl)

    async def clear(self) -> None:
        found = [key async for key in self.redis.scan_iter(match=self.prefix + "*", count=1000)]
        for start in range(0, len(found), 1000):
            await self.redis.unlink(*found[start : start + 1000])


# --------------------------------------------------------------------------
# The prompt as the cache sees it
# --------------------------------------------------------------------------


@dataclass
class Prompt:
    """A request's positions: the tokens up to and including each, its prefix
    hash, and the breakpoints as (position, seconds to live)."""

    prefix_tokens: list[int]
    hashes: list[str]
    breakpoints: list[tuple[int, int]]

    @property
    def total(self) -> int:
        """The whole prompt: every position, then the request's framing."""
        return (self.prefix_tokens[-1] if self.prefix_tokens else 0) + tokenizer.REQUEST_OVERHEAD


def marked(request: dict[str, Any], raw: bytes = b"") -> bool:
    """Whether ``request`` may ask for caching: cheap, and never wrong when it says no."""
    if raw:
        return b"cache_control" in raw
    if request.get("cache_control"):
        return True
    system = request.get("system")
    places = [request.get("tools") or (), system if type(system) is list else ()]
    places.extend(m.get("content") for m in request.get("messages") or () if type(m.get("content")) is list)
    return any(_marker(item) is not None for items in places for item in items)


def prompt(request: dict[str, Any], model: str) -> Prompt:
    """The positions of ``request`` with their tokens, prefix hashes and breakpoints."""
    system_context = _digest(request.get("speed"))
    # What, changed, loses the cached messages (the API's invalidation table): tool
    # choice, thinking, the output's format and effort, and the speed.
    thinking = {k: v for k, v in (request.get("thinking") or {}).items() if k != "display"}
    messages_context = _digest(
        [request.get("speed"), request.get("tool_choice"), thinking, request.get("output_config")]
    )
    prefix_tokens: list[int] = []
    hashes: list[str] = []
    breakpoints: list[tuple[int, int]] = []
    markable = -1  # the last position that can carry cache_control
    state = hashlib.blake2b(model.encode(), digest_size=16).digest()
    tokens = 0
    section = "tools"
    for where, i, j, item, cost in tokenizer.positions(request):
        head = where.encode()
        if where != section:
            head += system_context if where == "system" else messages_context
            section = where
        if where == "messages":  # whose turn it is, and whether the block opens a message
            head += f"{request['messages'][i].get('role')}:{j <= 0}".encode()
        state = hashlib.blake2b(state + head + _canonical(item), digest_size=16).digest()
        tokens += cost
        position = len(hashes)
        prefix_tokens.append(tokens)
        hashes.append(state.hex())
        if item is None:
            continue
        control = _marker(item)
        if control is not None:
            breakpoints.append((position, _ttl(control)))
        if item.get("type") not in _UNMARKABLE and not (item.get("type") == "text" and not item.get("text")):
            markable = position
    automatic = request.get("cache_control")
    if automatic and markable >= 0 and not any(p == markable for p, _ in breakpoints):
        breakpoints.append((markable, _ttl(automatic)))
        breakpoints.sort()
    return Prompt(prefix_tokens, hashes, breakpoints)


def _marker(item: Any) -> dict[str, Any] | None:
    """The block's ``cache_control``, or one on a block inside it (a tool result's content)."""
    if type(item) is not dict:
        return None
    control = item.get("cache_control")
    if control:
        return control
    inner = item.get("content")
    if type(inner) is list:
        for sub in inner:
            if type(sub) is dict and sub.get("cache_control"):
                return sub["cache_control"]
    return None


def _ttl(control: dict[str, Any]) -> int:
    return TTLS.get(control.get("ttl") or "5m", TTLS["5m"])


def _canonical(item: dict[str, Any] | None) -> bytes:
    """The block as the cache compares it: without its markers, keys in order."""
    if item is None:
        return b"-"
    bare = {k: v for k, v in item.items() if k != "cache_control"}
    inner = bare.get("content")
    if type(inner) is list:
        bare["content"] = [
            {k: v for k, v in sub.items() if k != "cache_control"} if type(sub) is dict else sub for sub in inner
        ]
    return orjson.dumps(bare, option=orjson.OPT_SORT_KEYS)


def _digest(value: Any) -> bytes:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


# --------------------------------------------------------------------------
# Reads, writes and usage
# --------------------------------------------------------------------------


@dataclass
class Accounting:
    """What one request reads and writes, and the usage that reports it."""

    total: int
    read: int = 0
    creation_5m: int = 0
    creation_1h: int = 0
    #: The entry read (key, seconds to live), refreshed when the answer begins.
    hit: tuple[str, int] | None = None
    #: The entries written when the answer begins.
    writes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def creation(self) -> int:
        return self.creation_5m + self.creation_1h

    @property
    def input_tokens(self) -> int:
        return self.total - self.read - self.creation

    def usage(self, usage: dict[str, Any], *, breakdown: bool = True) -> dict[str, Any]:
        """``usage`` (a Message's, or with ``breakdown=False`` a ``message_delta``'s) with these figures."""
        out = {
            **usage,
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.creation,
            "cache_read_input_tokens": self.read,
        }
        if breakdown:
            out["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.creation_5m,
                "ephemeral_1h_input_tokens": self.creation_1h,
            }
        return out


def account(prompt: Prompt, live: dict[int, int], keys: list[str], min_tokens: int) -> Accounting:
    """The reads and writes of ``prompt`` given the ``live`` entries (position -> seconds to live).

    With mixed times to live, as the API bills them: A is the prefix at the
    highest hit, B the prefix at the last 1-hour write past it (else A), C the
    prefix at the last write (else A); reads A, 1-hour writes B - A, 5-minute C - B.
    """
    tokens = prompt.prefix_tokens
    out = Accounting(prompt.total)
    hit = max(live, default=-1)
    a = tokens[hit] if hit >= 0 else 0
    if hit >= 0:
        out.hit = (keys[hit], live[hit])
    b = c = a
    for position, ttl in prompt.breakpoints:
        if position <= hit or tokens[position] < min_tokens:
            continue
        out.writes.append((keys[position], ttl))
        c = tokens[position]
        if ttl == TTLS["1h"]:
            b = c
    out.read, out.creation_1h, out.creation_5m = a, b - a, c - b
    return out


class PromptCache:
    """The emulation: scopes, lookups when a request arrives, writes when it is answered."""

    def __init__(self, state: CacheState | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.state: CacheState = state if state is not None else MemoryCacheState(self.clock)
        self._key = os.urandom(32)

    def use_key(self, key: str) -> None:
        """The secret scopes are hashed with (shared by every process on one database)."""
        self._key = key.encode()

    def scope(self, api_key: str | None) -> str:
        """The cache's partition for a client: a keyed hash of its API key, never the key."""
        label = b"none" if api_key is None else b"key:" + api_key.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, label, hashlib.sha256).hexdigest()[:32]

    async def plan(
        self, request: dict[str, Any], *, api_key: str | None, catalog: Catalog, raw: bytes = b""
    ) -> Accounting | None:
        """What ``request`` (sent as ``raw``, when known) reads and writes if answered
        now; None when it asks for no caching. Its model's entries are its own."""
        if not marked(request, raw):
            return None
        info = catalog.get(request["model"])
        model = info.id if info is not None else request["model"]
        min_tokens = info.cache_min_tokens if info is not None else ModelInfo.cache_min_tokens
        size = len(raw) or len(orjson.dumps(request))
        if size > _THREAD_BYTES:
            seen = await asyncio.to_thread(prompt, request, model)
        else:
            seen = prompt(request, model)
        if not seen.breakpoints:
            return None
        scope = self.scope(api_key)
        keys = [f"{scope}:{h}" for h in seen.hashes]
        tokens = seen.prefix_tokens
        window = sorted(
            {
                p
                for position, _ in seen.breakpoints
                for p in range(max(0, position - LOOKBACK + 1), position + 1)
                if tokens[p] >= min_tokens
            }
        )
        found = await self.state.get([keys[p] for p in window]) if window else []
        live = {p: ttl for p, ttl in zip(window, found) if ttl is not None}
        return account(seen, live, keys, min_tokens)

    async def commit(self, accounting: Accounting) -> None:
        """The answer has begun: the hit lives on, the writes become readable."""
        if accounting.hit is not None:
            await self.state.refresh(*accounting.hit)
        for key, ttl in accounting.writes:
            await self.state.put(key, ttl)

    async def message(self, message: dict[str, Any], accounting: Accounting) -> dict[str, Any]:
        """A non-streamed Message with the caching in its usage (unless its backend
        reported a prompt of another size: a scripted ``usage`` stands as written)."""
        usage = message.get("usage")
        if type(usage) is not dict or usage.get("input_tokens") != accounting.total:
            return message
        await self.commit(accounting)
        return {**message, "usage": accounting.usage(usage)}

    async def events(self, events: EventStream, accounting: Accounting) -> EventStream:
        """The stream with the caching in ``message_start`` and ``message_delta``."""
        applies = False
        async for event in events:
            if event.name == "message_start":
                message = event.data.get("message") or {}
                usage = message.get("usage")
                applies = type(usage) is dict and usage.get("input_tokens") == accounting.total
                if applies:
                    await self.commit(accounting)
                    message = {**message, "usage": accounting.usage(usage)}
                    event = Event(event.name, {**event.data, "message": message})
            elif event.name == "message_delta" and applies and type(event.data.get("usage")) is dict:
                usage = accounting.usage(event.data["usage"], breakdown=False)
                event = Event(event.name, {**event.data, "usage": usage})
            yield event
