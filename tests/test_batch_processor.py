"""Batch processing that survives what processes go through: ``kill -9`` and
a restart, and several processes sharing one database. Each runs on SQLite
and on a real PostgreSQL, with real ``dateline serve`` processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
import sqlalchemy as sa
from processes import Served
from sqlalchemy.ext.asyncio import create_async_engine

from dateline.store._store import engine_url

MODEL = "claude-sonnet-4-5"
# Each request waits a little before it is answered, so a batch is still
# being processed when the test kills or races the processes.
SLOW = "rules:\n  - name: slow\n    match: {endpoint: messages}\n    fault: {first_token_delay: %s}\n"


def requests(n: int) -> list[dict]:
    return [
        {
            "custom_id": f"req-{i}",
            "params": {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": f"Question {i}"}]},
        }
        for i in range(n)
    ]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Served] = []

    def run(database_url: str, *args: str) -> Served:
        log = tmp_path / f"serve-{len(started)}.log"
        served = Served(
            log, "--database-url", database_url, "--data-dir", str(tmp_path / "data"),
            "--batch-poll-interval", "0.05", "--batch-lease", "1", *args,
        )
        started.append(served)
        return served.wait_ready()

    yield run
    for served in started:
        served.stop()


def client(served: Served) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.base_url, api_key="sk-test", max_retries=0)


def rows(database_url: str, query: str) -> list[tuple]:
    async def run() -> list[tuple]:
        engine = create_async_engine(engine_url(database_url))
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(sa.text(query))]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def wait_ended(sdk: anthropic.Anthropic, batch_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (batch := sdk.messages.batches.retrieve(batch_id)).processing_status != "ended":
        assert time.monotonic() < deadline, f"batch still {batch.processing_status} after {timeout}s"
        time.sleep(0.1)
    return batch


def check_results(sdk: anthropic.Anthropic, batch_id: str, n: int) -> None:
    results = list(sdk.messages.batches.results(batch_id))
    ids = [r.custom_id for r in results]
    assert len(ids) == n and set(ids) == {f"req-{i}" for i in range(n)}, "a request lost or answered twice"
    assert {r.result.type for r in results} == {"succeeded"}
    # Each answer is the one for its own request.
    for r in results[:20]:
        assert r.result.message.usage.service_tier == "batch"


def rules_file(tmp_path: Path, delay: float) -> str:
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW % delay)
    return str(path)


def test_a_batch_survives_kill_9_and_a_restart(serve, database_url: str, tmp_path: Path):
    n = 240
    first = serve(database_url, "--script", rules_file(tmp_path, 0.02), "--batch-concurrency", "4")
    sdk = client(first)
    batch = sdk.messages.batches.create(requests=requests(n))
    # Kill it once some results are written and most are not.
    deadline = time.monotonic() + 30
    while True:
        done = rows(database_url, "SELECT count(*) FROM batch_requests WHERE state = 'succeeded'")[0][0]
        if done >= 20:
            break
        assert time.monotonic() < deadline, "no progress before the kill"
        time.sleep(0.02)
    first.kill()
    states = dict(rows(database_url, "SELECT state, count(*) FROM batch_requests GROUP BY state"))
    assert states.get("pending", 0) > 0, "finished before the kill: the test proves nothing"
    in_flight = states.get("running", 0)  # usually some; none if the kill fell between two handfuls

    second = serve(database_url)
    sdk = client(second)
    ended = wait_ended(sdk, batch.id)
    assert ended.request_counts.succeeded == n and ended.request_counts.processing == 0
    check_results(sdk, batch.id, n)
    # Exactly the requests in flight at the kill were taken over after their lease.
    retried = rows(database_url, "SELECT count(*) FROM batch_requests WHERE attempts > 1")[0][0]
    assert retried == in_flight


def test_processes_sharing_a_database_split_the_work(serve, database_url: str, tmp_path: Path):
    n = 400
    slow = rules_file(tmp_path, 0.01)
    one = serve(database_url, "--script", slow, "--batch-concurrency", "4")
    two = serve(database_url, "--script", slow, "--batch-concurrency", "4")
    batch = client(one).messages.batches.create(requests=requests(n))
    ended = wait_ended(client(two), batch.id)  # the other process sees it through the database
    assert ended.request_counts.succeeded == n
    check_results(client(two), batch.id, n)
    # Nothing was claimed twice, and both processes did part of it.
    assert rows(database_url, "SELECT max(attempts), min(attempts) FROM batch_requests") == [(1, 1)]
    workers = dict(rows(database_url, "SELECT processed_by, count(*) FROM batch_requests GROUP BY processed_by"))
    pids = {w.split("-")[0] for w in workers}
    assert pids == {str(one.proc.pid), str(two.proc.pid)}, workers
    assert min(workers.values()) >= n // 10, workers
