"""Rate limits shared on Redis: two ``dateline serve`` processes on one Redis and one
database (SQLite, then PostgreSQL) hold a key to one set of buckets, whichever process
a request reaches."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from processes import Served

BODY: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[list[Served]]:
    data = tmp_path / "data"
    data.mkdir()
    store = ["--database-url", database_url] if database_url.startswith("postgresql") else []
    started = [
        Served(tmp_path / f"serve{i}.log", "--data-dir", str(data), *store, "--redis-url", redis_url) for i in (1, 2)
    ]
    try:
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


async def flood(urls: list[str], secret: str, count: int) -> list[httpx.Response]:
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as client:
        sends = (
            client.post(f"{url}/v1/messages", json=BODY, headers=headers) for url, _ in zip(cycle(urls), range(count))
        )
        return await asyncio.gather(*sends)


def test_two_replicas_share_one_key_s_buckets(replicas: list[Served], redis_url: str) -> None:
    made = httpx.post(
        f"{replicas[0].base_url}/_dateline/keys",
        json={"name": "shared", "rate_limits": {"requests_per_minute": 50}},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    answers = asyncio.run(flood([r.base_url for r in replicas], made.json()["secret"], 200))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 50, statuses
    assert statuses.count(429) == 150, [
        (a.status_code, a.text[:200]) for a in answers if a.status_code not in (200, 429)
    ]
    for refused in (a for a in answers if a.status_code == 429):
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_error"
    # Both replicas answered some of each.
    by_replica = {r.base_url: {a.status_code for a in answers if str(a.url).startswith(r.base_url)} for r in replicas}
    assert all(codes for codes in by_replica.values())
    # Usage of both is counted together, on Redis.
    for replica in replicas:
        replica.stop()
        assert redis_url not in replica.log_path.read_text(errors="replace")  # a secret: it may hold a password
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.keys("dateline:usage:*")
    finally:
        client.close()
