"""The limiter shared by every replica: levels in Redis, each admission or charge one
Lua script, so it is atomic across processes and costs one round trip.

A bucket is a hash ``{level, at}`` that expires when it would be full again (absent =
full); a unified window a hash ``{started, used}`` that expires when the window ends.
Time is the Redis server's (one clock for every replica) unless a clock is given.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..prompt_cache import Clock
from ._answer import Admission
from ._model import Level, Shortfall, Snapshot, Subject, WindowUse, admission_costs, charge_costs

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: the buckets, then the windows. ARGV: now ('' = the server's TIME), mode
# ('admit', 'charge' or 'peek'), the bucket count, then per bucket limit, cost and need,
# then per window its seconds, allowance and amount. Returns now, allowed (1/0), each
# bucket's level, then each window's started ('' when none is open) and used; numbers as
# strings, since Redis would cut a Lua number to an integer.
SCRIPT = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local mode = ARGV[2]
local nb = tonumber(ARGV[3])
local allowed = mode == 'admit'
local windows = {}
local a = 4 + 3 * nb
for w = 1, #KEYS - nb do
  local seconds, allowance, amount = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local stored = redis.call('HMGET', KEYS[nb + w], 'started', 'used')
  local started, used = tonumber(stored[1]), tonumber(stored[2]) or 0
  if started == nil or started + seconds <= now then
    started, used = nil, 0
  end
  if used >= allowance then allowed = false end
  windows[w] = {seconds, amount, started, used}
end
local levels = {}
for b = 1, nb do
  local limit, cost, need = tonumber(ARGV[1 + 3 * b]), tonumber(ARGV[2 + 3 * b]), tonumber(ARGV[3 + 3 * b])
  local stored = redis.call('HMGET', KEYS[b], 'level', 'at')
  local level = tonumber(stored[1])
  if level == nil then
    level = limit
  else
    level = math.min(limit, level + math.max(0, now - tonumber(stored[2])) * limit / 60)
  end
  if level < need then allowed = false end
  levels[b] = {limit, cost, level}
end
local out = {tostring(now), '0'}
if allowed or mode == 'charge' then
  out[2] = '1'
  for b = 1, nb do
    local limit, cost, level = levels[b][1], levels[b][2], levels[b][3]
    level = math.min(limit, level - cost)
    levels[b][3] = level
    if level >= limit then
      redis.call('DEL', KEYS[b])
    else
      redis.call('HSET', KEYS[b], 'level', tostring(level), 'at', tostring(now))
      redis.call('PEXPIRE', KEYS[b], math.ceil((limit - level) * 60000 / limit) + 1000)
    end
  end
end
for b = 1, nb do out[#out + 1] = tostring(levels[b][3]) end
for w = 1, #windows do
  local seconds, amount, started, used = windows[w][1], windows[w][2], windows[w][3], windows[w][4]
  if mode == 'charge' and amount > 0 then
    if started == nil then started = now end
    used = used + amount
    redis.call('HSET', KEYS[nb + w], 'started', tostring(started), 'used', tostring(used))
    redis.call('PEXPIRE', KEYS[nb + w], math.ceil((started + seconds - now) * 1000))
  end
  out[#out + 1] = started and tostring(started) or ''
  out[#out + 1] = tostring(used)
end
return out
"""


class RedisLimiter:
    """Token buckets and unified windows in Redis, shared by every process using it."""

    def __init__(self, redis: Redis, *, clock: Clock | None = None, prefix: str = "dateline:ratelimit:") -> None:
        self.redis = redis
        self.clock = clock
        self.prefix = prefix
        self._script = redis.register_script(SCRIPT)

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
        await self.redis.aclose()

    async def _run(
        self, subject: Subject, mode: str, costs: list[float], needs: list[float], amount: float
    ) -> tuple[Snapshot, bool]:
        buckets, windows = subject.buckets, subject.windows
        if not buckets and not windows:  # an unlimited key costs no round trip
            return Snapshot(time.time() if self.clock is None else self.clock.now()), True
        keys = [self.prefix + bucket.name for bucket in buckets] + [self.prefix + window.name for window in windows]
        args: list[str | float | int] = ["" if self.clock is None else repr(self.clock.now()), mode, len(buckets)]
        for bucket, cost, need in zip(buckets, costs, needs, strict=True):
            args += [bucket.limit, repr(float(cost)), repr(float(need))]
        for window in windows:
            args += [window.seconds, window.allowance, repr(float(amount))]
        reply = [item.decode() if isinstance(item, bytes) else item for item in await self._script(keys, args)]
        now = float(reply[0])
        split = 2 + len(buckets)
        levels = tuple(Level(bucket, float(value)) for bucket, value in zip(buckets, reply[2:split], strict=True))
        uses = []
        rest = reply[split:]
        for index, window in enumerate(windows):
            started, used = rest[2 * index], float(rest[2 * index + 1])
            resets_at = (now if started == "" else float(started)) + window.seconds
            uses.append(WindowUse(window, used, resets_at))
        return Snapshot(now, levels, tuple(uses)), reply[1] == "1"
