"""The limiter shared by every replica: levels in Redis, updated only by one Lua script,
so every admission and charge is atomic across processes.

What one process asks of Redis at one moment goes together: the admissions and charges
queued for a subject while the previous round trip was under way are one script call,
and the calls for several subjects one pipeline. Under load a round trip serves many
requests (a round trip costs far more than the script's work), in the order they came.

A bucket is a hash ``{level, at}`` that expires when it would be full again (absent =
full); a unified window a hash ``{started, used}`` that expires when the window ends.
Time is the Redis server's (one clock for every replica) unless a clock is given.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from ..prompt_cache import Clock
from ._answer import Admission
from ._model import Level, Shortfall, Snapshot, Subject, WindowUse, admission_costs, charge_costs

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: the buckets, then the windows. ARGV: now ('' = the server's TIME), the bucket
# count, per bucket its limit, per window its seconds and allowance, and last the
# operations, applied in order, as one string (packing and parsing a few arguments
# costs the client far less than many): ';' between operations, each
# 'mode,cost,need,...,amount' with a cost and need per bucket (mode 'admit', 'charge'
# or 'peek'). Returns one string: now, then per operation ';applied(1/0),' each
# bucket's level after it, each window's started ('-' when none is open) and used.
SCRIPT = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local nb = tonumber(ARGV[2])
local nw = #KEYS - nb
local a = 3
local limits, levels = {}, {}
for b = 1, nb do
  local limit = tonumber(ARGV[a])
  a = a + 1
  local stored = redis.call('HMGET', KEYS[b], 'level', 'at')
  local level = tonumber(stored[1])
  if level == nil then
    level = limit
  else
    level = math.min(limit, level + math.max(0, now - tonumber(stored[2])) * limit / 60)
  end
  limits[b], levels[b] = limit, level
end
local seconds, allowances, started, used = {}, {}, {}, {}
for w = 1, nw do
  seconds[w], allowances[w] = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local stored = redis.call('HMGET', KEYS[nb + w], 'started', 'used')
  local s, u = tonumber(stored[1]), tonumber(stored[2]) or 0
  if s == nil or s + seconds[w] <= now then
    s, u = nil, 0
  end
  started[w], used[w] = s, u
end
local out = {tostring(now)}
local taken, opened = false, false
for op in string.gmatch(ARGV[a], '[^;]+') do
  local f = {}
  for field in string.gmatch(op, '[^,]+') do f[#f + 1] = field end
  local mode = f[1]
  local applies = mode ~= 'peek'
  if mode == 'admit' then
    for b = 1, nb do
      if levels[b] < tonumber(f[2 * b + 1]) then applies = false end
    end
    for w = 1, nw do
      if used[w] >= allowances[w] then applies = false end
    end
  end
  if applies then
    taken = true
    for b = 1, nb do levels[b] = math.min(limits[b], levels[b] - tonumber(f[2 * b])) end
  end
  local amount = tonumber(f[2 * nb + 2])
  if mode == 'charge' and amount > 0 then
    opened = true
    for w = 1, nw do
      if started[w] == nil then started[w] = now end
      used[w] = used[w] + amount
    end
  end
  local part = {applies and '1' or '0'}
  for b = 1, nb do part[#part + 1] = tostring(levels[b]) end
  for w = 1, nw do
    part[#part + 1] = started[w] and tostring(started[w]) or '-'
    part[#part + 1] = tostring(used[w])
  end
  out[#out + 1] = table.concat(part, ',')
end
if taken then
  for b = 1, nb do
    if levels[b] >= limits[b] then
      redis.call('DEL', KEYS[b])
    else
      redis.call('HSET', KEYS[b], 'level', tostring(levels[b]), 'at', tostring(now))
      redis.call('PEXPIRE', KEYS[b], math.ceil((limits[b] - levels[b]) * 60000 / limits[b]) + 1000)
    end
  end
end
if opened then
  for w = 1, nw do
    redis.call('HSET', KEYS[nb + w], 'started', tostring(started[w]), 'used', tostring(used[w]))
    redis.call('PEXPIRE', KEYS[nb + w], math.ceil((started[w] + seconds[w] - now) * 1000))
  end
end
return table.concat(out, ';')
"""

#: An operation waiting for the next round trip: mode, costs, needs, window amount, its answer.
_Operation = tuple[str, list[float], list[float], float, "asyncio.Future[tuple[Snapshot, bool]]"]


class RedisLimiter:
    """Token buckets and unified windows in Redis, shared by every process using it."""

    def __init__(self, redis: Redis, *, clock: Clock | None = None, prefix: str = "dateline:ratelimit:") -> None:
        self.redis = redis
        self.clock = clock
        self.prefix = prefix
        self._script = redis.register_script(SCRIPT)
        self._queued: dict[Subject, list[_Operation]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def admit(self, subject: Subject, *, input_tokens: int = 0) -> Admission:
        costs, needs = admission_costs(subject, input_tokens)
        snapshot, allowed = await self._run(subject, "admit", costs, needs, 0)
        if allowed:
            return Admission(snapshot)
        rejected = tuple(use for use in snapshot.windows if use.exhausted)
        shortfalls = tuple(
            Shortfall(level, need) for level, need in zip(snapshot.levels, needs, strict=True) if level.level < need
        )
        return Admission(snapshot, shortfalls, rejected)

    async def charge(
        self, subject: Subject, *, input_tokens: int = 0, output_tokens: int = 0, quota: float = 0
    ) -> Snapshot:
        costs = charge_costs(subject, input_tokens, output_tokens)
        snapshot, _ = await self._run(subject, "charge", costs, [0.0] * len(costs), quota)
        return snapshot

    async def snapshot(self, subject: Subject) -> Snapshot:
        zeros = [0.0] * len(subject.buckets)
        snapshot, _ = await self._run(subject, "peek", zeros, zeros, 0)
        return snapshot

    async def aclose(self) -> None:
        if self._sender is not None:
            await asyncio.wait([self._sender])
        await self.redis.aclose()

    def _run(
        self, subject: Subject, mode: str, costs: list[float], needs: list[float], amount: float
    ) -> asyncio.Future[tuple[Snapshot, bool]]:
        """Queued for the next round trip (none for a subject without limits)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[Snapshot, bool]] = loop.create_future()
        if not subject.buckets and not subject.windows:  # an unlimited key costs no round trip
            answer.set_result((Snapshot(time.time() if self.clock is None else self.clock.now()), True))
            return answer
        queued = self._queued.get(subject)
        if queued is None:
            queued = self._queued[subject] = []
        queued.append((mode, costs, needs, amount, answer))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        return answer

    async def _send(self) -> None:
        """Round trips while anything is queued, each taking all that is."""
        try:
            await asyncio.sleep(0)  # let the requests that came in alongside queue theirs
            while self._queued:
                batch, self._queued = self._queued, {}
                try:
                    replies = await self._call([self._arguments(subject, ops) for subject, ops in batch.items()])
                except Exception as exc:  # Redis out of reach: every request waiting on it fails
                    replies = [exc] * len(batch)
                except BaseException:  # cancelled, the loop closing: nobody is left waiting
                    self._queued.update(batch)
                    raise
                for (subject, ops), reply in zip(batch.items(), replies, strict=True):
                    _answer(subject, ops, reply)
        finally:
            self._sender = None
            stopped, self._queued = self._queued, {}
            for subject, ops in stopped.items():
                _answer(subject, ops, ConnectionError("the rate limiter stopped"))

    def _arguments(self, subject: Subject, ops: list[_Operation]) -> tuple[list[str], list[Any]]:
        buckets, windows = subject.buckets, subject.windows
        keys = [self.prefix + bucket.name for bucket in buckets] + [self.prefix + window.name for window in windows]
        args: list[Any] = ["" if self.clock is None else repr(self.clock.now()), len(buckets)]
        args += [bucket.limit for bucket in buckets]
        for window in windows:
            args += [window.seconds, window.allowance]
        args.append(
            ";".join(
                ",".join([mode, *(f"{cost},{need}" for cost, need in zip(costs, needs, strict=True)), str(amount)])
                for mode, costs, needs, amount, _ in ops
            )
        )
        return keys, args

    async def _call(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """One script call, or one pipeline of them (evalsha; the script is loaded when missing)."""
        if len(calls) == 1:
            return [await self._script(*calls[0])]
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        for index, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                replies[index] = await self._script(*calls[index])
        return replies


def _answer(subject: Subject, ops: list[_Operation], reply: Any) -> None:
    """Each queued operation's snapshot and verdict, out of one script's reply."""
    if isinstance(reply, Exception):
        for *_, answer in ops:
            if not answer.done():
                answer.set_exception(reply)
        return
    parts = (reply.decode() if isinstance(reply, bytes) else reply).split(";")
    buckets, windows = subject.buckets, subject.windows
    now = float(parts[0])
    for (*_, answer), part in zip(ops, parts[1:], strict=True):
        fields = part.split(",")
        levels = tuple(Level(bucket, float(value)) for bucket, value in zip(buckets, fields[1:], strict=False))
        uses = []
        at = 1 + len(buckets)
        for window in windows:
            started, used = fields[at], float(fields[at + 1])
            at += 2
            uses.append(WindowUse(window, used, (now if started == "-" else float(started)) + window.seconds))
        if not answer.done():  # its request may have gone
            answer.set_result((Snapshot(now, levels, tuple(uses)), fields[0] == "1"))
