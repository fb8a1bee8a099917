"""Rate limits on their own (not yet wired to requests): token buckets refilling on a
test clock, all-or-nothing admissions under concurrency, the anthropic-ratelimit-*
headers and the 429s. Every test runs on the in-process limiter and on Redis (a real
redis-server, two client connections standing for two replicas)."""

from __future__ import annotations

import asyncio
import datetime
import math
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from dateline import errors
from dateline.prompt_cache import Clock
from dateline.ratelimit import (
    UNIFIED_REJECTED,
    Admission,
    Limiter,
    Limits,
    MemoryLimiter,
    Quota,
    RedisLimiter,
    Subject,
    headers,
    spend_limit_error,
    uncached_input,
)

T = TypeVar("T")
START = 1_755_780_000.0  # 2025-08-21T12:40:00Z
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
H = "anthropic-ratelimit-"

Make = Callable[[Clock | None], Limiter]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """A new limiter each call, sharing state with the others the test made: the one
    in-process limiter, or another Redis client (its own connection) on one server."""
    if request.param == "memory":
        shared: dict[str, MemoryLimiter] = {}

        def memory(clock: Clock | None) -> Limiter:
            limiter = shared.setdefault("one", MemoryLimiter(clock))
            return limiter

        yield memory
        return
    url = request.getfixturevalue("redis_url")
    yield lambda clock: RedisLimiter(aioredis.Redis.from_url(url), clock=clock)


def run(make: Make, body: Callable[..., Awaitable[T]], clients: int = 1, clock: Clock | None = None) -> T:
    """``body(clock, limiter, ...)`` on a fresh event loop, the limiters closed after."""

    async def scenario() -> T:
        limiters = [make(clock) for _ in range(clients)]
        try:
            return await body(clock, *limiters)
        finally:
            for limiter in {id(limiter): limiter for limiter in limiters}.values():
                await limiter.aclose()

    return asyncio.run(scenario())


def frozen() -> Clock:
    return Clock(lambda: START)


def key(rpm: int | None = None, itpm: int | None = None, otpm: int | None = None, **extra: Any) -> Subject:
    return Subject("key_test", Limits(rpm, itpm, otpm), **extra)


# -- buckets refill continuously ------------------------------------------------


def test_a_bucket_refills_continuously_on_the_clock(make: Make) -> None:
    subject = key(rpm=60)  # one request a second

    async def body(clock: Clock, limiter: Limiter) -> None:
        for _ in range(60):
            assert (await limiter.admit(subject)).allowed
        refused = await limiter.admit(subject)
        assert not refused.allowed and refused.retry_after == 1
        clock.advance(0.5)
        assert not (await limiter.admit(subject)).allowed  # half a request is not one
        clock.advance(0.5)
        assert (await limiter.admit(subject)).allowed
        clock.advance(15)
        snapshot = await limiter.snapshot(subject)
        assert snapshot.levels[0].level == pytest.approx(15)
        got = headers(snapshot)
        assert got[H + "requests-remaining"] == "15"
        assert got[H + "requests-reset"] == "2025-08-21T12:41:01Z"  # 45 s from 12:40:16
        clock.advance(3600)  # never above the limit
        assert headers(await limiter.snapshot(subject))[H + "requests-remaining"] == "60"

    run(make, body, clock=frozen())


def test_token_buckets_refill_at_their_limit_per_minute(make: Make) -> None:
    subject = key(itpm=6000)  # 100 tokens a second

    async def body(clock: Clock, limiter: Limiter) -> None:
        assert (await limiter.admit(subject, input_tokens=6000)).allowed
        clock.advance(1.5)
        assert (await limiter.snapshot(subject)).levels[0].level == pytest.approx(150)
        refused = await limiter.admit(subject, input_tokens=400)
        assert not refused.allowed and refused.retry_after == math.ceil(250 / 100)
        clock.advance(2.5)
        assert (await limiter.admit(subject, input_tokens=400)).allowed

    run(make, body, clock=frozen())


# -- all or nothing, under concurrency ----------------------------------------------


def test_exactly_50_of_200_concurrent_requests_pass_a_50_rpm_key(make: Make) -> None:
    subject = key(rpm=50)

    async def body(clock: Clock, one: Limiter, other: Limiter) -> list[Admission]:
        return await asyncio.gather(*(limiter.admit(subject) for _ in range(100) for limiter in (one, other)))

    answers = run(make, body, clients=2, clock=frozen())
    allowed = [answer for answer in answers if answer.allowed]
    refused = [answer for answer in answers if not answer.allowed]
    assert (len(allowed), len(refused)) == (50, 150)
    assert sorted(int(a.headers()[H + "requests-remaining"]) for a in allowed) == list(range(50))
    for answer in refused:
        assert answer.retry_after == 2  # 1.2 s for one request at 50 a minute
        error = answer.error(org="org_1", model="claude-opus-4-8")
        assert error.status_code == 429 and error.type == "rate_limit_error"
        assert error.headers["retry-after"] == "2"
        assert error.message.startswith(
            "This request would exceed your organization's rate limit of 50 requests per minute "
            "(org: org_1, model: claude-opus-4-8). For details, refer to: https://docs.claude.com/en/api/rate-limits."
        )


def test_a_refused_request_takes_nothing(make: Make) -> None:
    subject = key(rpm=10, itpm=1000)

    async def body(clock: Clock, limiter: Limiter) -> None:
        assert (await limiter.admit(subject, input_tokens=900)).allowed
        refused = await limiter.admit(subject, input_tokens=500)
        assert not refused.allowed
        assert [shortfall.level.bucket.kind for shortfall in refused.shortfalls] == ["input_tokens"]
        assert "of 1,000 input tokens per minute" in refused.error().message
        snapshot = await limiter.snapshot(subject)
        assert [level.level for level in snapshot.levels] == [9, 100]  # the refused one took no request

    run(make, body, clock=frozen())


def test_a_request_bigger_than_the_bucket_is_refused_even_when_full(make: Make) -> None:
    subject = key(itpm=1000)

    async def body(clock: Clock, limiter: Limiter) -> None:
        refused = await limiter.admit(subject, input_tokens=1001)
        assert not refused.allowed and refused.binding is not None and refused.binding.never
        assert refused.retry_after == 1  # full already: no wait helps, but retry-after stays at least 1
        assert (await limiter.admit(subject, input_tokens=1000)).allowed

    run(make, body, clock=frozen())


def test_the_longest_wait_is_the_limit_named(make: Make) -> None:
    subject = key(rpm=60, itpm=600)  # 1 request, 10 tokens a second

    async def body(clock: Clock, limiter: Limiter) -> None:
        for _ in range(60):
            assert (await limiter.admit(subject, input_tokens=10)).allowed
        refused = await limiter.admit(subject, input_tokens=50)
        assert {shortfall.level.bucket.kind for shortfall in refused.shortfalls} == {"requests", "input_tokens"}
        assert refused.binding is not None and refused.binding.level.bucket.kind == "input_tokens"
        assert refused.retry_after == 5
        assert "of 600 input tokens per minute" in refused.error().message

    run(make, body, clock=frozen())


# -- output: charged as produced ----------------------------------------------------


def test_output_tokens_are_charged_as_produced_and_a_debt_is_waited_out(make: Make) -> None:
    subject = key(otpm=600)  # 10 tokens a second

    async def body(clock: Clock, limiter: Limiter) -> None:
        admitted = await limiter.admit(subject)
        assert admitted.allowed and admitted.snapshot.levels[0].level == 600  # nothing reserved
        await limiter.charge(subject, output_tokens=400)
        snapshot = await limiter.charge(subject, output_tokens=400)  # a stream goes on past the bucket
        assert snapshot.levels[0].level == pytest.approx(-200)
        assert headers(snapshot)[H + "output-tokens-remaining"] == "0"
        refused = await limiter.admit(subject)
        assert not refused.allowed and refused.retry_after == 21  # 201 tokens to get back to one
        assert "of 600 output tokens per minute" in refused.error().message
        clock.advance(21)
        assert (await limiter.admit(subject)).allowed

    run(make, body, clock=frozen())


def test_cache_reads_do_not_count_toward_input_tokens(make: Make) -> None:
    subject = key(itpm=10_000)
    usage = {"input_tokens": 100, "cache_creation_input_tokens": 900, "cache_read_input_tokens": 50_000}

    async def body(clock: Clock, limiter: Limiter) -> None:
        assert uncached_input(usage) == 1000
        admitted = await limiter.admit(subject, input_tokens=uncached_input(usage))
        assert admitted.allowed and admitted.snapshot.levels[0].level == 9000
        # An estimate made before the cache was read is settled: the overestimate comes back.
        estimate = 51_000 - 50_000 + 2000
        await limiter.charge(subject, input_tokens=-(estimate - uncached_input(usage)))
        assert (await limiter.snapshot(subject)).levels[0].level == 10_000  # never above the limit

    run(make, body, clock=frozen())


# -- owners and scopes --------------------------------------------------------------


def test_a_workspace_limit_binds_every_key_in_it(make: Make) -> None:
    team = {"workspace": "wrk_team", "workspace_limits": Limits(requests=3)}
    alice, bob = Subject("key_alice", Limits(requests=10), **team), Subject("key_bob", Limits(requests=10), **team)

    async def body(clock: Clock, limiter: Limiter) -> None:
        assert (await limiter.admit(alice)).allowed
        assert (await limiter.admit(bob)).allowed
        last = await limiter.admit(alice)
        assert last.allowed
        got = last.headers()
        assert got[H + "requests-limit"] == "3" and got[H + "requests-remaining"] == "0"  # the tighter owner
        refused = await limiter.admit(bob)
        assert not refused.allowed and refused.retry_after == 20
        assert refused.error(org="org_1", model="claude-sonnet-5").message.startswith(
            "This request would exceed your workspace's rate limit of 3 requests per minute "
            "(workspace: wrk_team, model: claude-sonnet-5)."
        )
        assert (await limiter.admit(Subject("key_carol", Limits(requests=10)))).allowed  # not in the workspace

    run(make, body, clock=frozen())


def test_batch_requests_draw_on_their_own_buckets(make: Make) -> None:
    online, batch = key(rpm=1), key(rpm=1, scope="batch")

    async def body(clock: Clock, limiter: Limiter) -> None:
        assert (await limiter.admit(online)).allowed
        assert not (await limiter.admit(online)).allowed
        assert (await limiter.admit(batch)).allowed

    run(make, body, clock=frozen())


# -- headers ------------------------------------------------------------------------


def test_headers_follow_the_api_formats(make: Make) -> None:
    subject = key(rpm=50, itpm=40_000, otpm=8000)

    async def body(clock: Clock, limiter: Limiter) -> dict[str, str]:
        await limiter.admit(subject, input_tokens=1234)
        await limiter.charge(subject, output_tokens=2600)
        return headers(await limiter.snapshot(subject))

    got = run(make, body, clock=frozen())
    assert set(got) == {
        f"{H}{kind}-{part}"
        for kind in ("requests", "tokens", "input-tokens", "output-tokens")
        for part in ("limit", "remaining", "reset")
    }
    assert all(RFC3339.match(value) for name, value in got.items() if name.endswith("-reset"))
    assert got[H + "requests-limit"] == "50" and got[H + "requests-remaining"] == "49"
    assert got[H + "input-tokens-limit"] == "40000"
    assert got[H + "input-tokens-remaining"] == "39000"  # 38,766 to the nearest thousand
    assert got[H + "output-tokens-remaining"] == "5000"  # 5,400
    assert got[H + "tokens-limit"] == "48000"  # input and output together
    assert got[H + "tokens-remaining"] == "44000"  # 44,166
    # Full again when the emptiest of the two is: 2,600 output tokens at 133.3 a second.
    assert got[H + "output-tokens-reset"] == got[H + "tokens-reset"] == "2025-08-21T12:40:20Z"
    assert got[H + "requests-reset"] == "2025-08-21T12:40:02Z"  # 1.2 s, rounded up


def test_the_most_restrictive_owner_fills_the_token_headers(make: Make) -> None:
    subject = Subject(
        "key_test", Limits(50, 100_000, 20_000), workspace="wrk_1", workspace_limits=Limits(None, 10_000, 2000)
    )

    async def body(clock: Clock, limiter: Limiter) -> dict[str, str]:
        await limiter.admit(subject, input_tokens=4000)
        return headers(await limiter.snapshot(subject))

    got = run(make, body, clock=frozen())
    assert got[H + "input-tokens-limit"] == "10000" and got[H + "input-tokens-remaining"] == "6000"
    assert got[H + "output-tokens-limit"] == "2000" and got[H + "output-tokens-remaining"] == "2000"
    assert got[H + "tokens-limit"] == "12000" and got[H + "tokens-remaining"] == "8000"
    assert got[H + "requests-limit"] == "50"  # the workspace sets no request limit


def test_a_key_without_limits_sends_no_headers(make: Make) -> None:
    async def body(clock: Clock, limiter: Limiter) -> Admission:
        return await limiter.admit(Subject("key_free"), input_tokens=10**9)

    admitted = run(make, body, clock=frozen())
    assert admitted.allowed and admitted.headers() == {}


# -- the unified subscription windows -----------------------------------------------


def test_unified_windows_warn_then_reject_until_the_window_resets(make: Make) -> None:
    subject = key(quota=Quota(five_hour=1000, seven_day=10_000))
    five_hours, seven_days = 5 * 3600, 7 * 86400

    async def body(clock: Clock, limiter: Limiter) -> None:
        fresh = (await limiter.admit(subject)).headers()
        assert fresh[H + "unified-status"] == "allowed"
        assert fresh[H + "unified-5h-utilization"] == "0.0"
        assert fresh[H + "unified-5h-reset"] == str(int(START) + five_hours)  # a window would open now

        clock.advance(60)
        warned = headers(await limiter.charge(subject, quota=800))
        assert warned[H + "unified-status"] == "allowed_warning"
        assert warned[H + "unified-representative-claim"] == "five_hour"
        assert warned[H + "unified-5h-status"] == "allowed_warning"
        assert warned[H + "unified-5h-utilization"] == "0.8"
        assert warned[H + "unified-5h-surpassed-threshold"] == "0.75"
        assert warned[H + "unified-5h-reset"] == warned[H + "unified-reset"] == str(int(START) + 60 + five_hours)
        assert warned[H + "unified-7d-status"] == "allowed" and warned[H + "unified-7d-utilization"] == "0.08"
        assert H + "unified-7d-surpassed-threshold" not in warned

        clock.advance(60)
        await limiter.charge(subject, quota=300)  # a running answer finishes past the allowance
        refused = await limiter.admit(subject)
        assert not refused.allowed and not refused.shortfalls
        got = refused.headers()
        assert got[H + "unified-status"] == "rejected" and got[H + "unified-5h-status"] == "rejected"
        assert got[H + "unified-5h-utilization"] == "1.1"
        assert got[H + "unified-5h-surpassed-threshold"] == "1.0"
        assert got["retry-after"] == str(five_hours - 60) and got["x-should-retry"] == "true"
        error = refused.error(org="org_1", model="claude-opus-5")
        assert error.status_code == 429 and error.message == UNIFIED_REJECTED

        clock.advance(five_hours - 60)
        after = (await limiter.admit(subject)).headers()
        assert after[H + "unified-status"] == "allowed" and after[H + "unified-5h-utilization"] == "0.0"
        assert after[H + "unified-7d-utilization"] == "0.11"
        assert after[H + "unified-7d-reset"] == str(int(START) + 60 + seven_days)
        assert after[H + "unified-representative-claim"] == "seven_day"

    run(make, body, clock=frozen())


# -- the spend limit ----------------------------------------------------------------


def test_the_spend_limit_is_a_429_with_its_error_code_and_no_retry_after() -> None:
    error = spend_limit_error(datetime.datetime(2026, 12, 14, 9, 30, tzinfo=datetime.UTC).timestamp())
    assert isinstance(error, errors.RateLimitError) and error.status_code == 429
    assert error.headers == {}
    assert error.to_dict("req_1") == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "You have reached your API usage limits: this API key has crossed its monthly spend limit. "
            "You will regain access on 2027-01-01 at 00:00 UTC.",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
        "request_id": "req_1",
    }


# -- Redis specifics ----------------------------------------------------------------


def test_redis_buckets_expire_when_full_again(redis_url: str) -> None:
    subject = key(rpm=60)

    async def scenario() -> tuple[int, int]:
        client = aioredis.Redis.from_url(url=redis_url)
        limiter = RedisLimiter(client, clock=frozen())
        await limiter.admit(subject)
        name = limiter.prefix + subject.buckets[0].name
        ttl = await client.pttl(name)
        await limiter.charge(subject, input_tokens=0)  # a charge of nothing leaves it as it is
        keys = len(await client.keys(limiter.prefix + "*"))
        await limiter.aclose()
        return ttl, keys

    ttl, keys = asyncio.run(scenario())
    assert 1000 < ttl <= 2000  # a second to refill one request, and a second's margin
    assert keys == 1


def test_redis_time_is_the_servers_when_no_clock_is_given(redis_url: str) -> None:
    subject = key(rpm=2)

    async def scenario() -> list[Admission]:
        limiter = RedisLimiter(aioredis.Redis.from_url(redis_url))
        try:
            return [await limiter.admit(subject) for _ in range(3)]
        finally:
            await limiter.aclose()

    answers = asyncio.run(scenario())
    assert [answer.allowed for answer in answers] == [True, True, False]
    assert answers[2].retry_after == 30
    assert abs(answers[0].snapshot.now - datetime.datetime.now(datetime.UTC).timestamp()) < 60


def test_an_unlimited_key_costs_no_round_trip_to_redis() -> None:
    async def scenario() -> Admission:
        unreachable = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
        limiter = RedisLimiter(unreachable, clock=frozen())
        try:
            await limiter.charge(Subject("key_free"), output_tokens=5)
            return await limiter.admit(Subject("key_free"), input_tokens=5)
        finally:
            await limiter.aclose()

    admitted = asyncio.run(scenario())
    assert admitted.allowed and admitted.snapshot.now == START
