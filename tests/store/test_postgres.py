"""The PostgreSQL fixtures: a real server, one fresh database per test, both backends."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def fetch(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url, timeout=30)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_server_answers(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    assert asyncio.run(fetch(postgres_url, "SELECT 1")) == 1
    assert asyncio.run(fetch(postgres_url, "SELECT current_database()")) == postgres_url.rsplit("/", 1)[1]
    version = asyncio.run(fetch(postgres_url, "SHOW server_version_num"))
    assert int(version) >= 100000


def test_database_starts_empty(postgres_url: str) -> None:
    tables = asyncio.run(
        fetch(postgres_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
    )
    assert tables == 0


def test_databases_are_distinct(postgres_server, postgres_url: str) -> None:
    other_name = "t_distinct_other"
    other_url = postgres_server.create_database(other_name)
    try:
        assert other_url != postgres_url

        async def check() -> None:
            a = await asyncpg.connect(postgres_url)
            b = await asyncpg.connect(other_url)
            try:
                await a.execute("CREATE TABLE only_here (x int)")
                assert await a.fetchval("SELECT to_regclass('only_here') IS NOT NULL")
                assert not await b.fetchval("SELECT to_regclass('only_here') IS NOT NULL")
            finally:
                await a.close()
                await b.close()

        asyncio.run(check())
    finally:
        postgres_server.drop_database(other_name)
    names = asyncio.run(fetch(postgres_server.url(), "SELECT array_agg(datname) FROM pg_database"))
    assert other_name not in names


def test_drop_database_terminates_connections(postgres_server) -> None:
    name = "t_drop_with_open_connection"
    url = postgres_server.create_database(name)

    async def check() -> None:
        held = await asyncpg.connect(url)  # left open on purpose
        try:
            await asyncio.to_thread(postgres_server.drop_database, name)
        finally:
            await held.close(timeout=5)
        assert not await fetch_exists(postgres_server.url(), name)

    async def fetch_exists(admin_url: str, dbname: str) -> bool:
        conn = await asyncpg.connect(admin_url)
        try:
            return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", dbname)
        finally:
            await conn.close()

    asyncio.run(check())


def async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    raise AssertionError(f"unexpected database URL {url!r}")


def test_database_url_both_kinds(database_url: str, request) -> None:
    kind = request.node.callspec.params["database_url"]
    assert database_url.startswith({"sqlite": "sqlite:///", "postgresql": "postgresql://"}[kind])

    async def check() -> tuple[object, str]:
        engine = create_async_engine(async_url(database_url))
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                one = (await conn.execute(text("SELECT 1"))).scalar_one()
                assert (await conn.execute(text("SELECT sum(x) FROM t"))).scalar_one() == 1
            return one, engine.dialect.name
        finally:
            await engine.dispose()

    one, dialect = asyncio.run(check())
    assert one == 1
    assert dialect == kind
