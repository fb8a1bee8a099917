"""Usage per key, model and day: ``dateline usage`` reads the servers' Redis (or a
server's admin API) and ``GET /_dateline/usage`` serves the same as JSON, with the
same filters, guarded by the admin token."""

from __future__ import annotations

import asyncio
import datetime
import subprocess

import anthropic
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from processes import clean_env, dateline_command

from dateline.testing import DatelineServer
from dateline.usage import Counts, RedisSink

TOKEN = "admin-t0ken"
TODAY = datetime.datetime.now(datetime.UTC).date().isoformat()

# Two keys, two models, two days, as servers flush them.
ROWS = {
    ("apikey_a", "claude-opus-4-8", "2026-12-01"): Counts(1, 1000, 200, 0, 0, 10_000_000_000),
    ("apikey_a", "claude-opus-4-8", "2026-12-02"): Counts(2, 2000, 400, 100, 50, 20_000_000_000),
    ("apikey_a", "claude-haiku-4-5", "2026-12-02"): Counts(1, 10, 5, 0, 0, 35_000_000),
    ("apikey_b", "claude-opus-4-8", "2026-12-02"): Counts(3, 3000, 600, 0, 0, 30_000_000_000),
}


def fill(url: str) -> None:
    async def add() -> None:
        sink = RedisSink(aioredis.Redis.from_url(url))
        await sink.add(ROWS)
        await sink.aclose()

    asyncio.run(add())


def usage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dateline_command(), "usage", *args], capture_output=True, text=True, timeout=60, env=env or clean_env()
    )


def test_the_cli_reads_usage_from_redis_with_filters(redis_url: str) -> None:
    fill(redis_url)
    answer = orjson.loads(usage("--redis-url", redis_url, "--json").stdout)
    assert [(r["day"], r["key"], r["model"]) for r in answer["data"]] == [
        ("2026-12-01", "apikey_a", "claude-opus-4-8"),
        ("2026-12-02", "apikey_a", "claude-haiku-4-5"),
        ("2026-12-02", "apikey_a", "claude-opus-4-8"),
        ("2026-12-02", "apikey_b", "claude-opus-4-8"),
    ]
    assert answer["data"][2] == {
        "key": "apikey_a",
        "model": "claude-opus-4-8",
        "day": "2026-12-02",
        "requests": 2,
        "input_tokens": 2000,
        "output_tokens": 400,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 50,
        "cost_usd": "0.02",
    }
    assert answer["total"]["requests"] == 7 and answer["total"]["cost_usd"] == "0.060035"
    # Filters: one key, from a day, to a day (inclusive); the URL from the environment.
    env = clean_env(DATELINE_REDIS_URL=redis_url)
    only_a = orjson.loads(usage("--key", "apikey_a", "--since", "2026-12-02", "--json", env=env).stdout)
    assert [(r["key"], r["model"]) for r in only_a["data"]] == [
        ("apikey_a", "claude-haiku-4-5"),
        ("apikey_a", "claude-opus-4-8"),
    ]
    first_day = orjson.loads(usage("--until", "2026-12-01", "--json", env=env).stdout)
    assert [r["day"] for r in first_day["data"]] == ["2026-12-01"]
    # Piped, a line per row, tab-separated: day, key, model, counters, cost.
    lines = usage("--key", "apikey_b", env=env).stdout.splitlines()
    assert lines == ["2026-12-02\tapikey_b\tclaude-opus-4-8\t3\t3000\t600\t0\t0\t0.03"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since: expected a date, YYYY-MM-DD"),
        (["--until", "2026-13-01"], "--until: expected a date, YYYY-MM-DD"),
        ([], "usage is counted in Redis (--redis-url) or in a server's own process (--url)"),
        (["--redis-url", "redis://127.0.0.1:1/0"], "cannot read Redis"),
        (["--url", "http://127.0.0.1:1"], "cannot reach http://127.0.0.1:1"),
    ],
)
def test_bad_input_is_reported_plainly(args: list[str], message: str) -> None:
    result = usage(*args)
    assert result.returncode == 2, result
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_the_admin_route_serves_usage_recorded_by_requests(redis_url: str) -> None:
    with DatelineServer(admin_token=TOKEN, redis_url=redis_url) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="sk-any")
        for model in ("claude-opus-4-8", "claude-opus-4-8", "claude-haiku-4-5"):
            client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
        admin = {"x-dateline-admin-token": TOKEN}
        answer = httpx.get(f"{server.base_url}/_dateline/usage", headers=admin, timeout=30).json()
        by_model = {row["model"]: row for row in answer["data"]}
        assert set(by_model) == {"claude-opus-4-8", "claude-haiku-4-5-20251001"}  # by id, aliases resolved
        assert by_model["claude-opus-4-8"]["requests"] == 2 and by_model["claude-opus-4-8"]["day"] == TODAY
        assert by_model["claude-opus-4-8"]["input_tokens"] > 0 and by_model["claude-opus-4-8"]["output_tokens"] > 0
        assert answer["total"]["requests"] == 3 and float(answer["total"]["cost_usd"]) > 0
        key = by_model["claude-opus-4-8"]["key"]
        # The same filters as the CLI.
        query = {"key": key, "since": TODAY, "until": TODAY}
        filtered = httpx.get(f"{server.base_url}/_dateline/usage", params=query, headers=admin, timeout=30).json()
        assert filtered == answer
        before = httpx.get(f"{server.base_url}/_dateline/usage", params={"until": "2020-01-01"}, headers=admin)
        assert before.json()["data"] == [] and before.json()["total"]["requests"] == 0
        # The CLI reads the same: from Redis, and from the server.
        assert orjson.loads(usage("--redis-url", redis_url, "--json").stdout) == answer
        via = usage("--url", server.base_url, "--admin-token", TOKEN, "--json")
        assert orjson.loads(via.stdout) == answer
        # Guarded like the admin API; bad days are the API's 400.
        refused = httpx.get(f"{server.base_url}/_dateline/usage", timeout=30)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
        assert usage("--url", server.base_url).returncode == 2
        bad = httpx.get(f"{server.base_url}/_dateline/usage", params={"since": "12/01/2026"}, headers=admin)
        assert bad.status_code == 400
        assert bad.json()["error"] == {
            "type": "invalid_request_error",
            "message": "since: Input should be a date, YYYY-MM-DD",
        }


def test_the_admin_route_without_redis_counts_this_process() -> None:
    with DatelineServer() as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="sk-any")
        client.messages.create(model="claude-opus-4-8", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
        answer = httpx.get(f"{server.base_url}/_dateline/usage", timeout=30).json()
        assert [(row["model"], row["requests"]) for row in answer["data"]] == [("claude-opus-4-8", 1)]
        via = usage("--url", server.base_url, "--json")
        assert orjson.loads(via.stdout) == answer
