"""Two ``dateline serve`` processes sharing one Redis behave as one test double:
rules written through one answer on the other, ``times`` counts across both,
the request log holds both replicas' requests with no credential in Redis, a
key revoked through one fails on the other at once, and a prompt-cache entry
written through one is read through the other."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import anthropic
import httpx
import pytest
import redis.asyncio as aioredis
from processes import Served

from dateline.prompt_cache import CacheState, Clock, MemoryCacheState, RedisCacheState
from dateline.requestlog import RequestLog, SharedRequestLog
from dateline.script import Request, Rule, Scripter, SharedScripter, loads

SECRET = "sk-ant-api03-" + "s3cr3tV4lue" * 8 + "AA"
HEADERS = {"x-api-key": SECRET, "anthropic-version": "2023-06-01"}
MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "ping shared"}]}


@pytest.fixture
def replicas(redis_url: str, tmp_path: Path) -> Iterator[list[Served]]:
    """Two servers on one Redis and one SQLite database (started one after the other)."""
    flags = ["--redis-url", redis_url, "--data-dir", str(tmp_path / "data")]
    started: list[Served] = []
    try:
        for i in range(2):
            started.append(Served(tmp_path / f"serve-{i}.log", *flags).wait_ready())
        yield started
    finally:
        for served in started:
            served.stop()


def post(served: Served, body: dict = MESSAGE, headers: dict = HEADERS) -> httpx.Response:
    return httpx.post(f"{served.base_url}/v1/messages", json=body, headers=headers, timeout=30)


def put_rules(served: Served, rules: str) -> dict:
    response = httpx.put(f"{served.base_url}/_dateline/rules", content=rules, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["content"][0]["text"]


def test_a_rule_written_through_one_replica_answers_on_the_other(replicas):
    one, other = replicas
    put_rules(one, "- {name: shared, match: {last_user: 'ping shared'}, reply: {text: 'from the rule'}}")
    assert text(post(other)) == "from the rule"
    # The official SDK sees the same, on either replica.
    client = anthropic.Anthropic(base_url=other.base_url, api_key=SECRET)
    answer = client.messages.create(**MESSAGE)
    assert answer.content[0].text == "from the rule"
    # Both see the rule and both hits.
    for served in replicas:
        rules = httpx.get(f"{served.base_url}/_dateline/rules", timeout=30).json()["rules"]
        assert [(r["name"], r["hits"]) for r in rules] == [("shared", 2)]
    # Cleared through the other, the rule is gone on the first.
    assert httpx.delete(f"{other.base_url}/_dateline/rules", timeout=30).status_code == 200
    assert text(post(one)) != "from the rule"


def test_times_is_counted_across_replicas(replicas):
    one, other = replicas
    put_rules(
        other,
        "- {name: twice, times: 2, match: {last_user: 'ping'}, replies: [{text: first}, {text: second}]}",
    )
    answers = [text(post(served)) for served in (one, other, one, other)]
    assert answers[:2] == ["first", "second"]
    assert "first" not in answers[2:] and "second" not in answers[2:]
    rules = httpx.get(f"{one.base_url}/_dateline/rules", timeout=30).json()["rules"]
    assert rules[0]["hits"] == 2


def read_log(served: Served, count: int) -> list[dict]:
    deadline = time.monotonic() + 2
    while True:
        entries = httpx.get(f"{served.base_url}/_dateline/requests", timeout=30).json()["data"]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def redis_dump(redis_url: str) -> bytes:
    """Every key and its value (as DUMP serializes it) in Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    dumped = b""
    for key in client.scan_iter(count=1000):
        dumped += key + b"\n" + (client.dump(key) or b"") + b"\n"
    client.close()
    return dumped


def test_the_request_log_holds_both_replicas_requests_with_no_secret_in_redis(replicas, redis_url):
    one, other = replicas
    assert post(one).status_code == 200
    bearer = {"authorization": f"Bearer {SECRET}", "anthropic-version": "2023-06-01"}
    assert post(other, headers=bearer).status_code == 200
    for served in replicas:
        entries = read_log(served, 2)
        assert len(entries) == 2
        assert {e["headers"].get("x-api-key") for e in entries} >= {f"[redacted]…{SECRET[-4:]}"}
        assert f"Bearer [redacted]…{SECRET[-4:]}" in {e["headers"].get("authorization") for e in entries}
        assert all(e["api_key"] == f"[redacted]…{SECRET[-4:]}" for e in entries)
        assert SECRET not in httpx.get(f"{served.base_url}/_dateline/requests", timeout=30).text
    dumped = redis_dump(redis_url)
    assert b"dateline:requests" in dumped  # the log is there...
    assert SECRET.encode() not in dumped and SECRET[:40].encode() not in dumped  # ...and no secret
    # Cleared through one, empty on both.
    httpx.delete(f"{one.base_url}/_dateline/requests", timeout=30)
    assert httpx.get(f"{other.base_url}/_dateline/requests", timeout=30).json()["data"] == []


def test_a_key_revoked_through_one_replica_fails_on_the_other_at_once(replicas):
    one, other = replicas
    # Each replica also reads the keys twice a second: several keys, each refused well
    # within that, show the announcement did it, not a poll.
    for name in ("a", "b", "c"):
        made = httpx.post(f"{one.base_url}/_dateline/keys", json={"name": name}, timeout=30).json()
        headers = {"x-api-key": made["secret"], "anthropic-version": "2023-06-01"}
        for served in replicas:
            assert post(served, headers=headers).status_code == 200
        assert httpx.delete(f"{one.base_url}/_dateline/keys/{made['id']}", timeout=30).status_code == 200
        revoked = time.monotonic()
        while post(other, headers=headers).status_code != 401:
            assert time.monotonic() - revoked < 1, "still accepted a second after it was revoked"
        assert time.monotonic() - revoked < 0.15
        assert post(one, headers=headers).status_code == 401


CACHED = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 20,
    "system": [{"type": "text", "text": "You answer questions. " * 400, "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "What is cached?"}],
}


def test_a_prompt_cache_entry_written_through_one_replica_is_read_through_the_other(replicas):
    one, other = replicas
    written = post(one, CACHED).json()["usage"]
    assert written["cache_creation_input_tokens"] > 0 and written["cache_read_input_tokens"] == 0
    read = post(other, CACHED).json()["usage"]
    assert read["cache_read_input_tokens"] == written["cache_creation_input_tokens"]
    # Cleared through the other: written again on the first.
    assert httpx.delete(f"{other.base_url}/_dateline/prompt-cache", timeout=30).status_code == 200
    assert post(one, CACHED).json()["usage"]["cache_read_input_tokens"] == 0


# -- each piece on its own, in one process and on Redis ---------------------------------
# "memory": one in-process object stands for every replica; "redis": one object per
# replica, each with its own connections to one server.

T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    return request.param


@contextlib.asynccontextmanager
async def scripters(kind: str, url: str | None) -> AsyncIterator[tuple[Scripter, Scripter]]:
    if kind == "memory":
        one = Scripter()
        yield one, one
        return
    assert url is not None
    pair = (SharedScripter(url), SharedScripter(url))
    for scripter in pair:
        await scripter.open()
    try:
        yield pair
    finally:
        for scripter in pair:
            await scripter.aclose()


async def settled(check: Callable[[], bool]) -> None:
    """A change published by one replica reaches the other within moments."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not seen by the other replica")


def request(text: str) -> Request:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": text}]}
    return Request.of("messages", body, {}, None)


def test_rules_and_their_hits_are_every_replicas(kind: str, request_url: str | None) -> None:
    async def body() -> None:
        async with scripters(kind, request_url) as (one, other):
            one.load(loads("- {name: twice, times: 2, match: {last_user: hi}, replies: [{text: a}, {text: b}]}"))
            await settled(lambda: other.active)
            first, second = one.decide(request("hi")), await other.adecide(request("hi"))
            third = await one.adecide(request("hi"))
            assert first is not None and first.reply is not None and first.reply.text == "a"
            assert second is not None and second.reply is not None and second.reply.text == "b"
            assert third is None  # spent, across both
            assert other.decide(request("bye")) is None
            # A rule put first keeps the others' counts; a plain rule counts its hits too.
            other.prepend(Rule.model_validate({"name": "any", "reply": {"text": "c"}}))
            await settled(lambda: len(one.script.rules) == 2)
            decided = one.decide(request("hi"))
            assert decided is not None and decided.name == "any"
            await asyncio.sleep(0.05)  # a plain rule's count is written in the background
            assert [(r["name"], r["hits"]) for r in other.describe()["rules"]] == [("any", 1), ("twice", 2)]
            one.reset()
            await settled(lambda: not other.active)
            assert other.decide(request("hi")) is None
            assert other.describe() == {"rules": []}

    run(body)


@pytest.fixture
def request_url(kind: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("redis_url") if kind == "redis" else None


def entry(api_key: str, body: bytes = b'{"model": "m"}', path: str = "/v1/messages") -> tuple:
    headers = [(b"x-api-key", api_key.encode()), (b"authorization", f"Bearer {api_key}".encode())]
    return (1.0, "req_1", "POST", path, "2023-06-01", [], api_key, headers, body, None, 200)


def test_the_request_log_redacts_and_keeps_its_caps(kind: str, request_url: str | None) -> None:
    def make(size: int, max_bytes: int) -> RequestLog:
        if kind == "memory":
            return RequestLog(size, max_bytes)
        assert request_url is not None
        return SharedRequestLog(request_url, size, max_bytes)

    async def body() -> None:
        log = make(3, 1_000_000)
        for i in range(5):
            log.add(*entry(SECRET, path=f"/v1/messages/{i}"))
        entries = await log.read()
        assert [e["path"] for e in entries] == ["/v1/messages/2", "/v1/messages/3", "/v1/messages/4"]
        assert entries[0]["headers"]["x-api-key"] == f"[redacted]…{SECRET[-4:]}"
        assert entries[0]["headers"]["authorization"] == f"Bearer [redacted]…{SECRET[-4:]}"
        assert entries[0]["api_key"] == f"[redacted]…{SECRET[-4:]}" and entries[0]["body"] == {"model": "m"}
        if request_url is not None:
            assert SECRET.encode() not in redis_dump(request_url)
        log.clear()
        assert await log.read() == []
        await log.aclose()
        # By bytes: the oldest go; an entry bigger than the whole log keeps no body.
        small = make(100, 6000)
        for i in range(6):
            small.add(*entry(SECRET, body=b'{"pad": "' + b"x" * 1500 + b'"}', path=f"/p/{i}"))
        small.add(*entry(SECRET, body=b'{"pad": "' + b"y" * 10_000 + b'"}', path="/big"))
        kept = await small.read()
        assert kept[-1]["path"] == "/big" and kept[-1]["body"] is None
        assert 1 < len(kept) < 7 and kept[0]["path"] != "/p/0"
        small.clear()
        await small.aclose()

    run(body)


def test_prompt_cache_entries_are_every_replicas(kind: str, request_url: str | None) -> None:
    async def body() -> None:
        clock = Clock(lambda: 1000.0)
        if kind == "memory":
            one: CacheState = MemoryCacheState(clock)
            other, client = one, None
        else:
            assert request_url is not None
            client = aioredis.Redis.from_url(request_url)
            one, other = RedisCacheState(client, clock), RedisCacheState(aioredis.Redis.from_url(request_url), clock)
        await one.put("a", 300)
        assert await other.get(["a", "b"]) == [300, None]
        await other.refresh("b", 300)  # a missing entry stays missing
        await other.refresh("a", 3600)
        assert await one.get(["a", "b"]) == [3600, None]
        clock.advance(3601)  # expired by the clock, though Redis still holds it
        assert await other.get(["a"]) == [None]
        await one.refresh("a", 300)  # and not brought back
        assert await other.get(["a"]) == [None]
        clock.advance(-3601)
        await one.clear()
        assert await other.get(["a"]) == [None]
        if client is not None:
            await client.aclose()

    run(body)


def test_a_replica_started_with_rules_adopts_those_redis_holds(redis_url: str) -> None:
    async def body() -> None:
        first = SharedScripter(redis_url, loads("- {name: first, reply: {text: a}}"))
        await first.open()
        assert first.decide(request("hi")) is not None  # counted: the count must survive the next start
        await asyncio.sleep(0.05)
        later = SharedScripter(redis_url, loads("- {name: later, reply: {text: b}}"))
        await later.open()
        assert [(r["name"], r["hits"]) for r in later.describe()["rules"]] == [("first", 1)]
        for scripter in (first, later):
            await scripter.aclose()

    run(body)
