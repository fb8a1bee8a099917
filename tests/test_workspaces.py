"""Workspaces' rate limits in the store (SQLite and PostgreSQL) and in every process's
key ring: set, changed and removed through one ring, read by another in the same poll
as the keys (one query when nothing changed), carried by the workspace's keys; a
database made before workspaces upgrades; and two ``dateline serve`` processes on one
database (and on one Redis) apply a change made through either within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from processes import Served

from dateline.keys import KeyRing, RateLimits
from dateline.store import Store
from dateline.store._store import _MIGRATIONS, engine_url

MESSAGE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "Hi"}],
}
LIMITS = {"rate_limits": {"requests_per_minute": 5, "output_tokens_per_minute": 9000}}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def ring_on(url: str, store: Store | None = None) -> KeyRing:
    store = store or Store(url)
    await store.open()
    ring = KeyRing(store)
    await ring.open()
    return ring


# --- the store and the ring ------------------------------------------------------------------


def test_limits_set_changed_and_removed_reach_another_ring_and_the_keys(database_url: str):
    async def scenario() -> None:
        one, other = await ring_on(database_url), await ring_on(database_url)
        key, secret = await one.create({"name": "a", "workspace_id": "wrkspc_team"})
        outsider, outsider_secret = await one.create({"name": "b", "workspace_id": "wrkspc_other"})
        await other.refresh()
        assert not other.find(secret).limited and other.workspace_limits("wrkspc_team") is None

        made = await one.put_workspace("wrkspc_team", LIMITS)
        assert made.rate_limits == RateLimits(requests_per_minute=5, output_tokens_per_minute=9000)
        assert one.find(secret).workspace_limits == made.rate_limits  # its own change at once
        await other.refresh()
        found = other.find(secret)
        assert other.workspace_limits("wrkspc_team") == made.rate_limits
        assert found.workspace_limits == made.rate_limits and found.limited and not found.settings.limited
        assert other.find(outsider_secret).workspace_limits is None  # another workspace's key: untouched

        changed = await one.put_workspace("wrkspc_team", {"rate_limits": {"input_tokens_per_minute": 100}})
        assert changed.created_at == made.created_at and changed.updated_at > made.updated_at
        await other.refresh()
        assert other.find(secret).workspace_limits == RateLimits(input_tokens_per_minute=100)  # all replaced

        assert (await other.get(key.id)).workspace_limits == changed.rate_limits  # a key read from the store too
        removed = await one.remove_workspace("wrkspc_team")
        assert removed is not None and removed.rate_limits == changed.rate_limits
        await other.refresh()
        assert other.workspace_limits("wrkspc_team") is None and not other.find(secret).limited
        assert await other.get_workspace("wrkspc_team") is None
        assert await one.remove_workspace("wrkspc_team") is None  # nothing left to remove

        again = await one.put_workspace("wrkspc_team", LIMITS)
        assert again.created_at > made.created_at  # made anew
        await other.refresh()
        assert other.find(secret).limited
        for ring in (one, other):
            await ring.store.close()

    run(scenario())


def test_a_key_moved_into_a_workspace_carries_its_limits(database_url: str):
    async def scenario() -> None:
        ring = await ring_on(database_url)
        await ring.put_workspace("wrkspc_team", LIMITS)
        key, secret = await ring.create({"name": "a"})
        assert ring.find(secret).workspace_limits is None
        await ring.update(key.id, {"workspace_id": "wrkspc_team"})
        assert ring.find(secret).workspace_limits == RateLimits(requests_per_minute=5, output_tokens_per_minute=9000)
        await ring.update(key.id, {"workspace_id": None})
        assert ring.find(secret).workspace_limits is None
        await ring.store.close()

    run(scenario())


class CountingStore(Store):
    """The store, counting every read a ring makes of it."""

    reads = 0

    async def key_revision(self) -> int:
        self.reads += 1
        return await super().key_revision()

    async def keys_since(self, revision: int) -> list[dict[str, Any]]:
        self.reads += 1
        return await super().keys_since(revision)

    async def workspaces_since(self, revision: int) -> list[dict[str, Any]]:
        self.reads += 1
        return await super().workspaces_since(revision)


def test_one_query_when_nothing_changed_and_every_change_once(database_url: str):
    async def scenario() -> None:
        writer = await ring_on(database_url)
        store = CountingStore(database_url)
        reader = await ring_on(database_url, store)
        await writer.create({"name": "a", "workspace_id": "wrkspc_team"})
        await writer.put_workspace("wrkspc_team", LIMITS)
        await reader.refresh()
        store.reads = 0
        for _ in range(3):
            await reader.refresh()
        assert store.reads == 3  # the revision alone, each time
        await writer.remove_workspace("wrkspc_team")
        await reader.refresh()
        assert reader.workspace_limits("wrkspc_team") is None
        for ring in (writer, reader):
            await ring.store.close()

    run(scenario())


class SlowStore(Store):
    """The store, its revision answered late: a poll under way while a change commits."""

    async def key_revision(self) -> int:
        revision = await super().key_revision()
        await asyncio.sleep(0.2)
        return revision


def test_a_change_is_seen_at_once_by_its_own_process_while_a_poll_is_under_way(database_url: str):
    async def scenario() -> None:
        ring = await ring_on(database_url, SlowStore(database_url))
        polling = asyncio.create_task(ring.refresh())
        await asyncio.sleep(0.05)  # the poll has read the revision, not yet answered
        await ring.put_workspace("wrkspc_team", LIMITS)
        assert ring.workspace_limits("wrkspc_team") is not None  # not the poll's older view
        await polling
        await ring.store.close()

    run(scenario())


def test_limits_set_at_once_from_many_processes_make_one_workspace(database_url: str):
    async def scenario() -> None:
        rings = [await ring_on(database_url) for _ in range(4)]
        made = await asyncio.gather(
            *(
                ring.put_workspace("wrkspc_new", {"rate_limits": {"requests_per_minute": n + 1}})
                for n, ring in enumerate(rings)
            )
        )
        assert {space.id for space in made} == {"wrkspc_new"}
        spaces, more = await rings[0].workspaces(after_id=None, before_id=None, limit=10)
        assert [space.id for space in spaces] == ["wrkspc_new"] and not more
        await rings[1].refresh()
        # The last put to commit is the one kept, and the one every ring holds.
        kept = await rings[0].get_workspace("wrkspc_new")
        assert kept.rate_limits in [space.rate_limits for space in made]
        assert rings[1].workspace_limits("wrkspc_new") == kept.rate_limits
        for ring in rings:
            await ring.store.close()

    run(scenario())


def test_workspaces_are_listed_newest_first_without_removed_ones(database_url: str):
    async def scenario() -> None:
        ring = await ring_on(database_url)
        for name in ("w1", "w2", "w3"):
            await ring.put_workspace(name, LIMITS)
        await ring.remove_workspace("w2")
        spaces, more = await ring.workspaces(after_id=None, before_id=None, limit=1)
        assert [s.id for s in spaces] == ["w3"] and more
        spaces, more = await ring.workspaces(after_id="w3", before_id=None, limit=5)
        assert [s.id for s in spaces] == ["w1"] and not more
        with pytest.raises(KeyError):
            await ring.workspaces(after_id="nope", before_id=None, limit=5)
        await ring.store.close()

    run(scenario())


# --- the migration ------------------------------------------------------------------------------


def test_a_database_made_before_workspaces_upgrades(database_url: str):
    """Made by migration 0004 with a key in it; opened by this Dateline, it gains the
    workspaces table, keeps the key, and the key's workspace takes limits."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import create_async_engine

    async def made_at_0004() -> None:
        if database_url.startswith("sqlite"):
            Path(database_url.partition(":///")[2]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(engine_url(database_url))

        def upgrade(connection: Any) -> None:
            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")

        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
            assert "workspaces" not in await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        await engine.dispose()

    async def scenario() -> None:
        await made_at_0004()
        old = Store(database_url)
        assert await old._revision() == "0004"
        ring = await ring_on(database_url, old)  # opening it upgrades it
        assert await ring.store._revision() == "0005"
        key, secret = await ring.create({"name": "kept", "workspace_id": "wrkspc_old"})
        await ring.store.close()
        again = await ring_on(database_url)
        assert (await again.get(key.id)).name == "kept"
        await again.put_workspace("wrkspc_old", LIMITS)
        assert again.find(secret).limited
        await again.store.close()

    run(scenario())


# --- two `dateline serve` processes on one database --------------------------------------------


@pytest.fixture(params=["database", "redis"])
def replicas(request, database_url: str, tmp_path: Path) -> Iterator[list[Served]]:
    """Two ``dateline serve`` processes on one database; with ``redis``, on one Redis too
    (its buckets shared, changes announced over pub/sub)."""
    flags = ["--database-url", database_url]
    if request.param == "redis":
        flags += ["--redis-url", request.getfixturevalue("redis_url")]
    started = [Served(tmp_path / f"serve-{i}.log", *flags, "--data-dir", str(tmp_path / f"d{i}")) for i in range(2)]
    try:
        for served in started:
            served.wait_ready()
        yield started
    finally:
        for served in started:
            served.stop()


def post(served: Served, secret: str) -> httpx.Response:
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    return httpx.post(f"{served.base_url}/v1/messages", json=MESSAGE, headers=headers, timeout=30)


def test_a_change_through_one_process_applies_on_the_other_within_a_second(replicas: list[Served]):
    one, other = replicas
    made = httpx.post(
        f"{one.base_url}/_dateline/keys",
        json={"name": "k", "workspace_id": "wrkspc_team", "rate_limits": {"requests_per_minute": 100}},
        timeout=30,
    )
    secret = made.json()["secret"]
    time.sleep(0.6)  # both have read the key
    assert post(other, secret).headers["anthropic-ratelimit-requests-limit"] == "100"

    put = httpx.put(
        f"{one.base_url}/_dateline/workspaces/wrkspc_team", json={"rate_limits": {"requests_per_minute": 2}}
    )
    assert put.status_code == 200, put.text
    changed = time.monotonic()
    assert post(one, secret).headers["anthropic-ratelimit-requests-limit"] == "2"  # at once where it was set
    while (answer := post(other, secret)).status_code != 429:
        assert time.monotonic() - changed < 1.0, "the workspace's limit was not applied within a second"
        time.sleep(0.02)
    assert "your workspace's rate limit of 2 requests per minute" in answer.json()["error"]["message"]
    assert int(answer.headers["retry-after"]) >= 1

    gone = httpx.delete(f"{one.base_url}/_dateline/workspaces/wrkspc_team")
    assert gone.status_code == 200, gone.text
    removed = time.monotonic()
    while (answer := post(other, secret)).status_code != 200:
        assert time.monotonic() - removed < 1.0, "the workspace's limit was not lifted within a second"
        time.sleep(0.02)
    assert answer.headers["anthropic-ratelimit-requests-limit"] == "100"
