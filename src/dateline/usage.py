"""Usage and spend: per key, per model, per day, the requests, input, output and cache
tokens and what they cost, priced from the model catalog (``models.toml``'s ``[prices]``).

Recording a request is arithmetic in memory (``UsageMeter.record``), never a write on
the request's path: the counters are flushed to a sink every ``interval`` seconds (2 by
default) and when the meter closes. A process that dies loses what it recorded since
its last flush; a flush that fails keeps its counts for the next one. Two sinks, one
interface: ``MemorySink`` (this process only: its totals go with it) and ``RedisSink``
(every replica adds to the same counters, in one transaction per flush).

Costs are whole picodollars (10⁻¹² USD), so sums are exact; ``Counts.cost_usd`` is the
``Decimal`` in dollars. Spend per key per calendar month (UTC) is kept beside the
counters, for spend limits: ``UsageMeter.spent`` answers from memory, as of the last
flush plus what this process recorded since.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Protocol

from .catalog import Catalog, Price
from .prompt_cache import Clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("dateline")

PICODOLLARS = 10**12
"""Picodollars in a dollar: costs are counted in these."""
FLUSH_INTERVAL = 2.0
"""Seconds between two flushes: at most this much counting is lost with a crashed process."""


@dataclass
class Counts:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost: int = 0
    """Picodollars."""

    def add(self, other: Counts) -> None:
        for name in FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def cost_usd(self) -> Decimal:
        return Decimal(self.cost) / PICODOLLARS

    def as_dict(self) -> dict[str, Any]:
        """The counters, the cost in dollars (a string, exact) instead of picodollars."""
        out: dict[str, Any] = asdict(self)
        del out["cost"]
        out["cost_usd"] = str(self.cost_usd.normalize()) if self.cost else "0"
        return out


FIELDS = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class Row:
    """One key's use of one model on one day (``YYYY-MM-DD``, UTC)."""

    key: str
    model: str
    day: str
    counts: Counts

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "model": self.model, "day": self.day, **self.counts.as_dict()}


def cost(price: Price | None, usage: Mapping[str, Any], *, batch: bool = False) -> int:
    """What a request with this ``usage`` (the API's usage object) costs, in picodollars.

    Cache writes are split by TTL when ``cache_creation`` says how (else all 5-minute);
    a prompt over the model's long-prompt threshold pays its long rates; a batch request
    pays the batch share. An unpriced model costs nothing.
    """
    if price is None:
        return 0
    uncached = _tokens(usage, "input_tokens")
    output = _tokens(usage, "output_tokens")
    reads = _tokens(usage, "cache_read_input_tokens")
    writes = _tokens(usage, "cache_creation_input_tokens")
    creation = usage.get("cache_creation")
    hour = _tokens(creation, "ephemeral_1h_input_tokens") if isinstance(creation, Mapping) else 0
    minutes = writes - hour if writes >= hour else 0
    base_in, base_out = price.base(uncached + writes + reads)
    per_million = (
        uncached * base_in
        + minutes * base_in * price.cache_write_5m
        + hour * base_in * price.cache_write_1h
        + reads * base_in * price.cache_read
        + output * base_out
    )
    if batch:
        per_million *= price.batch
    return int((per_million * (PICODOLLARS // 10**6)).to_integral_value(ROUND_HALF_EVEN))


def _tokens(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def counts(price: Price | None, usage: Mapping[str, Any], *, batch: bool = False) -> Counts:
    """One request's counters."""
    return Counts(
        requests=1,
        input_tokens=_tokens(usage, "input_tokens"),
        output_tokens=_tokens(usage, "output_tokens"),
        cache_creation_input_tokens=_tokens(usage, "cache_creation_input_tokens"),
        cache_read_input_tokens=_tokens(usage, "cache_read_input_tokens"),
        cost=cost(price, usage, batch=batch),
    )


Slot = tuple[str, str, str]
"""(key, model, day)."""
Month = tuple[str, str]
"""(key, "YYYY-MM")."""


class UsageSink(Protocol):
    """Where flushed counters add up."""

    async def add(self, batch: Mapping[Slot, Counts], watched: Collection[Month] = ()) -> dict[Month, int]:
        """Add every slot's counts (all or none); answer the spend, after adding, of each
        key in each month touched or ``watched``, in picodollars."""
        ...

    async def rows(self, *, key: str | None = None, since: str | None = None, until: str | None = None) -> list[Row]:
        """Rows, oldest day first, of one key or all, between two days (inclusive)."""
        ...

    async def spend(self, key: str, month: str) -> int: ...

    async def aclose(self) -> None: ...


class MemorySink:
    """Counters in this process."""

    def __init__(self) -> None:
        self._slots: dict[Slot, Counts] = {}
        self._spend: dict[tuple[str, str], int] = {}

    async def add(self, batch: Mapping[Slot, Counts], watched: Collection[Month] = ()) -> dict[Month, int]:
        touched = set(watched)
        for slot, added in batch.items():
            self._slots.setdefault(slot, Counts()).add(added)
            month = (slot[0], slot[2][:7])
            self._spend[month] = self._spend.get(month, 0) + added.cost
            touched.add(month)
        return {month: self._spend.get(month, 0) for month in touched}

    async def rows(self, *, key: str | None = None, since: str | None = None, until: str | None = None) -> list[Row]:
        return sorted(
            (
                Row(k, model, day, Counts(**asdict(c)))
                for (k, model, day), c in self._slots.items()
                if _wanted(k, day, key, since, until)
            ),
            key=lambda row: (row.day, row.key, row.model),
        )

    async def spend(self, key: str, month: str) -> int:
        return self._spend.get((key, month), 0)

    async def aclose(self) -> None:
        pass


def _wanted(k: str, day: str, key: str | None, since: str | None, until: str | None) -> bool:
    return (key is None or k == key) and (since is None or day >= since) and (until is None or day <= until)


class RedisSink:
    """Counters in Redis, shared by every replica.

    ``{prefix}{day}|{key}``: a hash of ``{model}|{counter}`` → count; ``{prefix}days``: a
    sorted set of ``{day}|{key}`` (read by range); ``{prefix}spend:{key}:{month}``: the
    month's spend. A flush is one MULTI/EXEC transaction.
    """

    def __init__(self, redis: Redis, *, prefix: str = "dateline:usage:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def add(self, batch: Mapping[Slot, Counts], watched: Collection[Month] = ()) -> dict[Month, int]:
        spends: dict[Month, int] = {}
        async with self.redis.pipeline(transaction=True) as pipe:
            for (key, model, day), added in batch.items():
                for name in FIELDS:
                    if value := getattr(added, name):
                        pipe.hincrby(f"{self.prefix}{day}|{key}", f"{model}|{name}", value)
                pipe.zadd(f"{self.prefix}days", {f"{day}|{key}": 0})
                spends[(key, day[:7])] = spends.get((key, day[:7]), 0) + added.cost
            for key, month in spends:
                pipe.incrby(self._spend_key(key, month), spends[(key, month)])
            others = [month for month in watched if month not in spends]
            for key, month in others:
                pipe.get(self._spend_key(key, month))
            months = [*spends, *others]
            replies = await pipe.execute() if months else []
        totals = replies[len(replies) - len(months) :]
        return {month: int(total or 0) for month, total in zip(months, totals, strict=True)}

    async def rows(self, *, key: str | None = None, since: str | None = None, until: str | None = None) -> list[Row]:
        low = f"[{since}" if since else "-"
        high = f"({_next_day(until)}" if until else "+"
        members = [_text(m) for m in await self.redis.zrangebylex(f"{self.prefix}days", low, high)]
        wanted = [member.split("|", 1) for member in members]
        wanted = [(day, k) for day, k in wanted if key is None or k == key]
        async with self.redis.pipeline(transaction=False) as pipe:
            for day, k in wanted:
                pipe.hgetall(f"{self.prefix}{day}|{k}")
            hashes = await pipe.execute()
        rows = []
        for (day, k), stored in zip(wanted, hashes, strict=True):
            by_model: dict[str, Counts] = {}
            for field, value in stored.items():
                model, name = _text(field).rsplit("|", 1)
                setattr(by_model.setdefault(model, Counts()), name, int(value))
            rows += [Row(k, model, day, c) for model, c in by_model.items()]
        return sorted(rows, key=lambda row: (row.day, row.key, row.model))

    async def spend(self, key: str, month: str) -> int:
        return int(await self.redis.get(self._spend_key(key, month)) or 0)

    async def aclose(self) -> None:
        await self.redis.aclose()

    def _spend_key(self, key: str, month: str) -> str:
        return f"{self.prefix}spend:{key}:{month}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _next_day(day: str) -> str:
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()


class UsageMeter:
    """Records requests in memory and flushes them to a sink in the background."""

    def __init__(
        self, sink: UsageSink, catalog: Catalog, *, clock: Clock | None = None, interval: float = FLUSH_INTERVAL
    ) -> None:
        self.sink = sink
        self.catalog = catalog
        self.clock = clock or Clock()
        self.interval = interval
        self._pending: dict[Slot, Counts] = {}
        self._spend: dict[tuple[str, str], int] = {}  # (key, month) -> as of the last flush or read
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    def record(self, key: str, model: str, usage: Mapping[str, Any], *, batch: bool = False) -> Counts:
        """Count one answered request (``usage``: its usage object). No I/O."""
        info = self.catalog.get(model)
        added = counts(info.price if info else None, usage, batch=batch)
        slot = (key, info.id if info else model, self._day())
        self._pending.setdefault(slot, Counts()).add(added)
        return added

    async def spent(self, key: str) -> int:
        """This month's spend of a key, in picodollars: as of the last flush (read from the
        sink the first time a key is asked about) plus what is recorded and not yet flushed."""
        month = self._day()[:7]
        if (key, month) not in self._spend:
            self._spend[(key, month)] = await self.sink.spend(key, month)
        pending = sum(c.cost for (k, _, day), c in self._pending.items() if k == key and day.startswith(month))
        return self._spend[(key, month)] + pending

    async def flush(self) -> None:
        """Add what is pending to the sink, and learn the current spend of the keys asked
        about (other replicas add to it too); on failure the counts stay pending (and the
        error is raised)."""
        async with self._flushing:
            batch, self._pending = self._pending, {}
            month = self._day()[:7]
            self._spend = {known: total for known, total in self._spend.items() if known[1] == month}
            if not batch and not self._spend:
                return
            try:
                totals = await self.sink.add(batch, list(self._spend))
            except BaseException:
                for slot, c in batch.items():
                    self._pending.setdefault(slot, Counts()).add(c)
                raise
            self._spend.update(totals)

    async def rows(self, *, key: str | None = None, since: str | None = None, until: str | None = None) -> list[Row]:
        """What the sink holds (flushed counts only)."""
        return await self.sink.rows(key=key, since=since, until=until)

    def start(self) -> None:
        """Flush every ``interval`` seconds until closed."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dateline usage flush")

    async def aclose(self) -> None:
        """Stop flushing in the background, flush what is left, close the sink."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        finally:
            await self.sink.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                logger.warning("usage: flush failed; its counts are kept for the next one", exc_info=True)

    def _day(self) -> str:
        return datetime.datetime.fromtimestamp(self.clock.now(), datetime.UTC).date().isoformat()
