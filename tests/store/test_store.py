"""The store on SQLite and on a real PostgreSQL: migrations, claims that
never overlap, leases that pass on, and results only the holder may write."""

from __future__ import annotations

import asyncio
import time

import pytest

from dateline.store import Outcome, Store
from dateline.store._store import engine_url


def run(coro):
    return asyncio.run(coro)


async def opened(url: str) -> Store:
    store = Store(url)
    await store.open()
    return store


async def make_batch(store: Store, batch_id: str, n: int, *, expires_in: float = 3600) -> None:
    now = time.time()
    batch = {
        "id": batch_id, "version": "2023-06-01", "processing_status": "in_progress", "total": n,
        "created_at": now, "expires_at": now + expires_in,
    }
    await store.create_batch(batch, [(f"r{i}", "{}") for i in range(n)])


def test_opening_twice_is_harmless(database_url: str):
    async def scenario():
        for _ in range(2):
            store = await opened(database_url)
            await make_batch(store, f"b{time.monotonic_ns()}", 1)
            await store.close()

    run(scenario())


def test_engine_urls():
    assert engine_url("postgresql://u@h:1/d") == "postgresql+asyncpg://u@h:1/d"
    assert engine_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert engine_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    with pytest.raises(ValueError):
        engine_url("mysql://h/d")
    with pytest.raises(ValueError):
        engine_url("not a url")


def test_concurrent_claims_never_overlap(database_url: str):
    async def scenario():
        stores = [await opened(database_url) for _ in range(2)]  # as two processes would
        await make_batch(stores[0], "b", 500)
        now = time.time()

        async def worker(store: Store, name: str) -> list[int]:
            got: list[int] = []
            while claimed := await store.claim(name, 7, lease=60, now=now):
                got += [c.idx for c in claimed]
                await store.finish(name, [Outcome(c.batch_id, c.idx, "succeeded", "{}") for c in claimed])
            return got

        results = await asyncio.gather(*(worker(stores[i % 2], f"w{i}") for i in range(6)))
        every = [idx for got in results for idx in got]
        assert sorted(every) == list(range(500)), "a request claimed twice or never"
        await stores[0].settle(["b"], time.time())
        batch = await stores[0].get_batch("b")
        assert batch["processing_status"] == "ended" and batch["succeeded"] == 500
        for store in stores:
            await store.close()

    run(scenario())


def test_a_lapsed_lease_passes_the_request_on_and_only_the_new_holder_writes(database_url: str):
    async def scenario():
        store = await opened(database_url)
        await make_batch(store, "b", 1)
        now = time.time()
        [first] = await store.claim("old", 10, lease=5, now=now)
        assert await store.claim("new", 10, lease=5, now=now + 1) == []  # still held
        [second] = await store.claim("new", 10, lease=5, now=now + 6)  # lease ran out
        assert second.idx == first.idx
        await store.finish("old", [Outcome("b", 0, "errored", '{"late": true}')])
        await store.finish("new", [Outcome("b", 0, "succeeded", '{"new": true}')])
        assert [r async for r in store.results("b", 1)] == [("r0", "succeeded", '{"new": true}')]
        await store.close()

    run(scenario())


def test_results_read_across_a_delete_are_whole_or_raise(database_url: str):
    async def scenario():
        reader, deleter = await opened(database_url), await opened(database_url)
        await make_batch(reader, "b", 25)
        await reader.cancel_batch("b", time.time())  # ended: nothing had started
        whole = [r async for r in reader.results("b", 25, chunk=10)]
        assert [r[0] for r in whole] == [f"r{i}" for i in range(25)]

        rows = reader.results("b", 25, chunk=10)
        read = [await anext(rows) for _ in range(10)]  # the first page
        assert await deleter.delete_batch("b")
        with pytest.raises(KeyError):
            read += [r async for r in rows]
        assert len(read) == 10
        with pytest.raises(KeyError):  # gone before the first page
            await anext(reader.results("b", 25))
        for store in (reader, deleter):
            await store.close()

    run(scenario())


def test_an_overdue_batch_is_not_claimed_and_expires(database_url: str):
    async def scenario():
        store = await opened(database_url)
        await make_batch(store, "late", 3, expires_in=-1)
        assert await store.claim("w", 10, lease=5, now=time.time()) == []
        await store.sweep(time.time())
        batch = await store.get_batch("late")
        assert batch["processing_status"] == "ended" and batch["expired"] == 3
        await store.close()

    run(scenario())


def test_cancel_cancels_only_what_has_not_started(database_url: str):
    async def scenario():
        store = await opened(database_url)
        await make_batch(store, "b", 5)
        held = await store.claim("w", 2, lease=60, now=time.time())
        batch = await store.cancel_batch("b", time.time())
        assert batch["processing_status"] == "canceling" and batch["cancel_initiated_at"] is not None
        await store.finish("w", [Outcome(c.batch_id, c.idx, "succeeded", "{}") for c in held])
        await store.settle(["b"], time.time())
        batch = await store.get_batch("b")
        assert (batch["processing_status"], batch["succeeded"], batch["canceled"]) == ("ended", 2, 3)
        assert await store.cancel_batch("nope", time.time()) is None
        await store.close()

    run(scenario())


def test_head_names_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from dateline.store._store import _MIGRATIONS, HEAD

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_a_secret_is_made_once_and_shared(database_url: str):
    async def scenario():
        stores = [await opened(database_url) for _ in range(4)]
        made = await asyncio.gather(*(store.secret("k") for store in stores))  # all at once, racing
        assert len(set(made)) == 1 and len(made[0]) >= 40
        assert await stores[0].secret("k") == made[0]  # kept
        assert await stores[1].secret("other") not in made  # one per name
        for store in stores:
            await store.close()
        again = await opened(database_url)
        assert await again.secret("k") == made[0]
        await again.close()

    run(scenario())
