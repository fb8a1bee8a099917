"""Usage and spend on their own (not yet wired to requests): prices from the catalog,
counters recorded in memory and flushed in batches, summed per key, model and day. The
meter runs on the in-process sink and on Redis (a real redis-server; two meters on two
connections stand for two replicas)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from dateline.catalog import Catalog, ModelInfo, Price
from dateline.prompt_cache import Clock
from dateline.usage import PICODOLLARS, Counts, MemorySink, RedisSink, UsageMeter, UsageSink, cost

T = TypeVar("T")
CATALOG = Catalog.default()
NOON = datetime.datetime(2026, 12, 14, 12, 0, tzinfo=datetime.UTC).timestamp()

MakeSink = Callable[[], UsageSink]


def usd(picodollars: int) -> Decimal:
    return Decimal(picodollars) / PICODOLLARS


def price(model: str) -> Price:
    info = CATALOG.get(model)
    assert info is not None and info.price is not None, model
    return info.price


# -- prices ---------------------------------------------------------------------------


def test_every_model_in_the_catalog_has_a_price() -> None:
    assert [info.id for info in CATALOG if info.price is None] == []


@pytest.mark.parametrize(
    ("model", "usage", "dollars"),
    [
        ("claude-opus-4-8", {"input_tokens": 1_000_000}, "5"),
        ("claude-opus-4-8", {"output_tokens": 1_000_000}, "25"),
        ("claude-opus-4-8", {"cache_creation_input_tokens": 1_000_000}, "6.25"),  # 5-minute writes: 1.25×
        (
            "claude-opus-4-8",
            {"cache_creation_input_tokens": 1_000_000, "cache_creation": {"ephemeral_1h_input_tokens": 1_000_000}},
            "10",  # 1-hour writes: 2×
        ),
        ("claude-opus-4-8", {"cache_read_input_tokens": 1_000_000}, "0.5"),  # reads: 0.1×
        ("claude-fable-5-1", {"cache_read_input_tokens": 1_000_000}, "0.25"),  # 0.025× on Fable 5.1
        ("claude-mythos-5-1", {"cache_read_input_tokens": 1_000_000}, "0.25"),
        ("claude-opus-5-5", {"cache_read_input_tokens": 1_000_000}, "0.2"),  # 0.05× on Opus 5.5
        ("claude-sonnet-5-5", {"cache_read_input_tokens": 1_000_000}, "0.1"),  # and Sonnet 5.5
        ("claude-fable-5-2", {"input_tokens": 1_000_000, "cache_read_input_tokens": 1_000_000}, "8.2"),
        ("claude-3-haiku-20240307", {"cache_creation_input_tokens": 1_000_000}, "0.3"),  # Haiku 3's own
        ("claude-3-haiku-20240307", {"cache_read_input_tokens": 1_000_000}, "0.03"),
        ("claude-haiku-5-5", {"input_tokens": 100_000, "output_tokens": 1_000_000}, "0.51"),  # up to 100K
        ("claude-haiku-5-5", {"input_tokens": 100_001, "output_tokens": 1_000_000}, "2.5500005"),  # over: 5×
        ("claude-haiku-5-5", {"input_tokens": 1, "cache_read_input_tokens": 100_000}, "0.0050005"),  # reads count
        ("claude-sonnet-4-5-20250929", {"input_tokens": 200_001}, "1.200006"),  # over 200K: $6
        ("claude-sonnet-4-6", {"input_tokens": 200_001}, "0.600003"),  # no long-prompt rate
        ("claude-1.3", {"input_tokens": 1000, "output_tokens": 1000}, "0.0437"),
    ],
)
def test_a_request_costs_what_the_price_list_says(model: str, usage: dict[str, Any], dollars: str) -> None:
    assert usd(cost(price(model), usage)) == Decimal(dollars)


def test_batch_requests_cost_half() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 1000, "cache_read_input_tokens": 1000}
    full = cost(price("claude-haiku-5-5"), usage)
    assert cost(price("claude-haiku-5-5"), usage, batch=True) * 2 == full
    assert usd(cost(price("claude-haiku-5-5"), {"cache_read_input_tokens": 1}, batch=True)) == Decimal("5e-9")


def test_an_unpriced_model_costs_nothing_and_bad_counts_are_not_counted() -> None:
    assert cost(None, {"input_tokens": 10**9}) == 0
    assert (
        cost(price("claude-opus-4-8"), {"input_tokens": -5, "output_tokens": True, "cache_read_input_tokens": "9"}) == 0
    )


# -- the meter, on both sinks -------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def make_sink(request: pytest.FixtureRequest) -> Iterator[MakeSink]:
    """A sink each call, all of a test's sharing their counts: one in-process sink, or
    another Redis connection to one server."""
    if request.param == "memory":
        one = MemorySink()
        yield lambda: one
        return
    url = request.getfixturevalue("redis_url")
    yield lambda: RedisSink(aioredis.Redis.from_url(url))


def run(body: Callable[..., Awaitable[T]], *args: Any) -> T:
    return asyncio.run(body(*args))


def meter(make_sink: MakeSink, clock: Clock, **options: Any) -> UsageMeter:
    return UsageMeter(make_sink(), CATALOG, clock=clock, **options)


def test_counts_reach_the_sink_only_when_flushed_and_are_summed(make_sink: MakeSink) -> None:
    clock = Clock(lambda: NOON)

    async def body() -> None:
        usage = meter(make_sink, clock)
        usage.record("key_a", "claude-opus-4-8", {"input_tokens": 1000, "output_tokens": 200})
        usage.record(
            "key_a",
            "claude-opus-4-8",
            {"input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 40},
        )
        usage.record("key_a", "claude-sonnet-4-5", {"input_tokens": 7, "output_tokens": 3})  # an alias
        assert await usage.rows() == []  # nothing written on the request's path
        await usage.flush()
        rows = [row.as_dict() for row in await usage.rows()]
        assert rows == [
            {
                "key": "key_a",
                "model": "claude-opus-4-8",
                "day": "2026-12-14",
                "requests": 2,
                "input_tokens": 1010,
                "output_tokens": 220,
                "cache_creation_input_tokens": 30,
                "cache_read_input_tokens": 40,
                # 1,010 × $5 + 30 × $6.25 + 40 × $0.50 + 220 × $25, per million
                "cost_usd": "0.0107575",
            },
            {
                "key": "key_a",
                "model": "claude-sonnet-4-5-20250929",
                "day": "2026-12-14",
                "requests": 1,
                "input_tokens": 7,
                "output_tokens": 3,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cost_usd": "0.000066",
            },
        ]
        await usage.aclose()

    run(body)


def test_two_replicas_add_to_the_same_counters(make_sink: MakeSink) -> None:
    clock = Clock(lambda: NOON)

    async def body() -> None:
        one, other = meter(make_sink, clock), meter(make_sink, clock)
        for _ in range(3):
            one.record("key_a", "claude-haiku-5-5", {"input_tokens": 100, "output_tokens": 10})
            other.record("key_a", "claude-haiku-5-5", {"input_tokens": 100, "output_tokens": 10}, batch=True)
        await one.flush()
        await other.flush()
        (row,) = await one.rows(key="key_a")
        assert (row.counts.requests, row.counts.input_tokens, row.counts.output_tokens) == (6, 600, 60)
        # 3 × (100 × $0.10 + 10 × $0.50) per million, and as much again at half price
        assert row.counts.cost_usd == Decimal("0.0000675")
        assert await other.spent("key_a") == row.counts.cost  # flushed last: it saw both
        assert await one.spent("key_a") < row.counts.cost  # as of its own flush, before the other's
        await one.flush()  # the next flush brings every replica's spend (nothing to add)
        assert await one.spent("key_a") == row.counts.cost
        await one.aclose()
        await other.aclose()

    run(body)


def test_rows_are_per_day_and_read_by_key_and_days(make_sink: MakeSink) -> None:
    clock = Clock(lambda: NOON)

    async def body() -> None:
        usage = meter(make_sink, clock)
        for day in range(3):  # the 14th, 15th and 16th
            usage.record("key_a", "claude-opus-4-8", {"input_tokens": 1 + day})
            usage.record("key_b", "claude-opus-4-8", {"input_tokens": 10})
            clock.advance(86400)
        await usage.flush()
        every = await usage.rows()
        assert [(row.day, row.key) for row in every] == [
            ("2026-12-14", "key_a"),
            ("2026-12-14", "key_b"),
            ("2026-12-15", "key_a"),
            ("2026-12-15", "key_b"),
            ("2026-12-16", "key_a"),
            ("2026-12-16", "key_b"),
        ]
        some = await usage.rows(key="key_a", since="2026-12-15", until="2026-12-15")
        assert [(row.day, row.counts.input_tokens) for row in some] == [("2026-12-15", 2)]
        assert [row.day for row in await usage.rows(since="2026-12-16")] == ["2026-12-16"] * 2
        assert [row.day for row in await usage.rows(key="key_b", until="2026-12-14")] == ["2026-12-14"]
        await usage.aclose()

    run(body)


def test_the_months_spend_is_read_once_then_kept_in_memory(make_sink: MakeSink) -> None:
    clock = Clock(lambda: NOON)

    async def body() -> None:
        earlier = meter(make_sink, clock)
        earlier.record("key_a", "claude-opus-4-8", {"output_tokens": 40_000})  # $1
        await earlier.aclose()
        usage = meter(make_sink, clock)
        assert usd(await usage.spent("key_a")) == 1  # read from the sink the first time
        usage.record("key_a", "claude-opus-4-8", {"output_tokens": 20_000})
        assert usd(await usage.spent("key_a")) == Decimal("1.5")  # and what is not flushed yet
        await usage.flush()
        assert usd(await usage.spent("key_a")) == Decimal("1.5")
        clock.advance(18 * 86400)  # January: a new month
        assert await usage.spent("key_a") == 0
        await usage.aclose()

    run(body)


def test_a_flush_flushes_in_the_background_and_at_close(make_sink: MakeSink) -> None:
    async def body() -> list[int]:
        usage = meter(make_sink, Clock(), interval=0.05)
        usage.start()
        usage.record("key_a", "claude-opus-4-8", {"input_tokens": 1})
        seen = []
        for _ in range(100):
            await asyncio.sleep(0.01)
            if rows := await usage.rows():
                seen.append(rows[0].counts.requests)
                break
        usage.record("key_a", "claude-opus-4-8", {"input_tokens": 1})
        sink = usage.sink
        await usage.aclose()  # the last counts are flushed, not lost
        reader = UsageMeter(sink if isinstance(sink, MemorySink) else make_sink(), CATALOG)
        seen.append(sum(row.counts.requests for row in await reader.rows()))
        await reader.aclose()
        return seen

    assert run(body) == [1, 2]


def test_a_failed_flush_keeps_its_counts_for_the_next(redis_url: str) -> None:
    clock = Clock(lambda: NOON)

    async def body() -> list[int]:
        unreachable = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
        down = RedisSink(unreachable)
        usage = UsageMeter(down, CATALOG, clock=clock)
        usage.record("key_a", "claude-opus-4-8", {"input_tokens": 5})
        with pytest.raises(Exception, match="(?i)connect"):
            await usage.flush()
        usage.record("key_a", "claude-opus-4-8", {"input_tokens": 5})
        await down.aclose()
        usage.sink = RedisSink(aioredis.Redis.from_url(redis_url))  # Redis is back
        await usage.flush()
        rows = await usage.rows()
        await usage.aclose()
        return [row.counts.input_tokens for row in rows]

    assert run(body) == [10]


def test_counts_add_up_field_by_field() -> None:
    total = Counts()
    total.add(Counts(1, 2, 3, 4, 5, 6))
    total.add(Counts(1, 1, 1, 1, 1, 1))
    assert total == Counts(2, 3, 4, 5, 6, 7)
    assert Counts(cost=PICODOLLARS // 4).as_dict()["cost_usd"] == "0.25"


def test_a_model_the_catalog_does_not_know_is_counted_at_no_cost() -> None:
    catalog = Catalog([*Catalog.default(), ModelInfo("gpt-local")])

    async def body() -> list[dict[str, Any]]:
        usage = UsageMeter(MemorySink(), catalog, clock=Clock(lambda: NOON))
        usage.record("key_a", "gpt-local", {"input_tokens": 3})
        usage.record("key_a", "never-heard-of", {"input_tokens": 4})
        await usage.flush()
        return [row.as_dict() for row in await usage.rows()]

    rows = run(body)
    assert [(row["model"], row["input_tokens"], row["cost_usd"]) for row in rows] == [
        ("gpt-local", 3, "0"),
        ("never-heard-of", 4, "0"),
    ]
