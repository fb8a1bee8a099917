"""The store: Message Batches, file metadata, API keys and workspaces' limits in SQLite or PostgreSQL,
through SQLAlchemy's async engine; the schema is kept by Alembic migrations,
run when the store opens."""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._tables import api_key_revision as KR
from ._tables import api_keys as K
from ._tables import batch_requests as R
from ._tables import batches as B
from ._tables import files as F
from ._tables import secrets as S
from ._tables import workspaces as W

PENDING, RUNNING = "pending", "running"
SUCCEEDED, ERRORED, CANCELED, EXPIRED = "succeeded", "errored", "canceled", "expired"
UNFINISHED = (PENDING, RUNNING)
_MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest migration's revision (a test checks it against the migrations).
HEAD = "0005"
_INSERT_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Claimed:
    """A batch request a worker now holds, until ``lease_until``."""

    batch_id: str
    idx: int
    custom_id: str
    params: str


@dataclass(frozen=True, slots=True)
class Outcome:
    batch_id: str
    idx: int
    state: str  #: SUCCEEDED or ERRORED
    result: str  #: the result object, as JSON


def engine_url(url: str) -> str:
    """``postgresql://`` and ``sqlite://`` URLs, given the async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    base = scheme.split("+")[0]
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use sqlite:/// or postgresql://")


class Store:
    """Durable state behind one interface, whichever database holds it.

    On SQLite, transactions that write begin ``IMMEDIATE`` (on a second
    engine), so concurrent writers queue on the lock instead of failing.
    """

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            path = self.url.partition(":///")[2]
            self.path = Path(path) if path else None
            self.reader = self._sqlite_engine(immediate=False)
            self.writer = self._sqlite_engine(immediate=True)
        else:
            self.path = None
            self.reader = self.writer = create_async_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)

    def _sqlite_engine(self, *, immediate: bool) -> AsyncEngine:
        engine = create_async_engine(self.url, connect_args={"timeout": 60})

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide where transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL survives a killed process; only a power cut may lose the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # -- life cycle ---------------------------------------------------------

    async def open(self) -> None:
        """Bring the schema up to date (several processes may start at once)."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if await self._revision() == HEAD:
            return  # nothing to do, and Alembic (some 14 MB) is not even imported
        if self.path is not None:
            await asyncio.to_thread(self._lock_sqlite, True)
        try:
            async with self.writer.connect() as conn:
                if self.dialect == "postgresql":
                    await conn.execute(sa.text("SELECT pg_advisory_lock(74205)"))
                    await conn.commit()
                try:
                    await conn.run_sync(_upgrade)
                    await conn.commit()
                finally:
                    if self.dialect == "postgresql":
                        await conn.execute(sa.text("SELECT pg_advisory_unlock(74205)"))
                        await conn.commit()
        finally:
            if self.path is not None:
                self._lock_sqlite(False)

    async def _revision(self) -> str | None:
        try:
            async with self.reader.connect() as conn:
                return (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
        except sa.exc.DBAPIError:
            return None  # a new database

    def _lock_sqlite(self, take: bool) -> None:
        if take:
            self._lockfile = open(f"{self.path}.migrate-lock", "w")  # noqa: SIM115 - held until released
            fcntl.flock(self._lockfile, fcntl.LOCK_EX)
        else:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()

    async def close(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()

    # -- batches ------------------------------------------------------------

    async def create_batch(self, batch: dict[str, Any], requests: Sequence[tuple[str, str]]) -> None:
        """Store a batch and its requests (custom_id, params as JSON) in one transaction."""
        async with self.writer.begin() as conn:
            await conn.execute(sa.insert(B).values(**batch))
            for start in range(0, len(requests), _INSERT_CHUNK):
                rows = [
                    {"batch_id": batch["id"], "idx": start + i, "custom_id": cid, "params": params, "state": PENDING}
                    for i, (cid, params) in enumerate(requests[start : start + _INSERT_CHUNK])
                ]
                await conn.execute(sa.insert(R), rows)

    async def get_batch(self, batch_id: str) -> dict[str, Any] | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(sa.select(B).where(B.c.id == batch_id))).mappings().first()
        return dict(row) if row is not None else None

    async def list_batches(
        self, *, after_id: str | None, before_id: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; ``after_id`` pages towards older batches, ``before_id`` towards newer."""
        return await self._page(B, after_id=after_id, before_id=before_id, limit=limit)

    async def _page(
        self, table: sa.Table, *, after_id: str | None, before_id: str | None, limit: int, where: Any = None
    ) -> tuple[list[dict[str, Any]], bool]:
        async with self.reader.connect() as conn:
            query = sa.select(table)
            if where is not None:
                query = query.where(where)
            for cursor, older in ((after_id, True), (before_id, False)):
                if cursor is None:
                    continue
                seq = (await conn.execute(sa.select(table.c.seq).where(table.c.id == cursor))).scalar()
                if seq is None:
                    raise KeyError(cursor)
                query = query.where(table.c.seq < seq if older else table.c.seq > seq)
            towards_newer = before_id is not None and after_id is None
            query = query.order_by(table.c.seq.asc() if towards_newer else table.c.seq.desc()).limit(limit + 1)
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if towards_newer:
            rows.reverse()
        return rows, has_more

    async def cancel_batch(self, batch_id: str, now: float) -> dict[str, Any] | None:
        """Mark a batch canceling and cancel what has not started; None if unknown."""
        async with self.writer.begin() as conn:
            status = (await conn.execute(sa.select(B.c.processing_status).where(B.c.id == batch_id))).scalar()
            if status is None:
                return None
            if status == "in_progress":
                await conn.execute(
                    sa.update(B)
                    .where(B.c.id == batch_id)
                    .values(processing_status="canceling", cancel_initiated_at=now)
                )
                await conn.execute(
                    sa.update(R).where(R.c.batch_id == batch_id, R.c.state == PENDING).values(state=CANCELED)
                )
        await self.settle([batch_id], now)
        return await self.get_batch(batch_id)

    async def delete_batch(self, batch_id: str) -> bool:
        """Delete an ended batch and its requests; True for the one call that did
        (a concurrent one finds nothing left: on PostgreSQL it waits on the row, then sees it gone)."""
        async with self.writer.begin() as conn:
            gone = await conn.execute(sa.delete(B).where(B.c.id == batch_id, B.c.processing_status == "ended"))
            if gone.rowcount == 0:
                return False
            await conn.execute(sa.delete(R).where(R.c.batch_id == batch_id))
        return True

    async def results(
        self, batch_id: str, total: int, *, chunk: int = 1000
    ) -> AsyncIterator[tuple[str, str, str | None]]:
        """(custom_id, state, result JSON) of every request of an ended batch of
        ``total``, in request order, a page at a time.

        Pages are read apart, so that a slow reader holds no connection; an
        ended batch's rows no longer change, and are deleted all at once, so
        pages that add up to ``total`` are the whole. Short of it, the batch
        was deleted meanwhile: ``KeyError``.
        """
        after, seen = -1, 0
        while True:
            async with self.reader.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(R.c.idx, R.c.custom_id, R.c.state, R.c.result)
                        .where(R.c.batch_id == batch_id, R.c.idx > after)
                        .order_by(R.c.idx)
                        .limit(chunk)
                    )
                ).all()
            seen += len(rows)
            if len(rows) < chunk and seen != total:
                raise KeyError(batch_id)
            for row in rows:
                yield row.custom_id, row.state, row.result
            if len(rows) < chunk:
                return
            after = rows[-1].idx

    async def versions(self, batch_ids: Iterable[str]) -> dict[str, str]:
        return {batch_id: version for batch_id, (version, _) in (await self.origins(batch_ids)).items()}

    async def origins(self, batch_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Each batch's API version and the id of the key that created it (None: no stored key)."""
        async with self.reader.connect() as conn:
            query = sa.select(B.c.id, B.c.version, B.c.api_key_id).where(B.c.id.in_(list(batch_ids)))
            return {row.id: (row.version, row.api_key_id) for row in await conn.execute(query)}

    # -- the workers' side ----------------------------------------------------

    async def claim(self, worker: str, limit: int, *, lease: float, now: float) -> list[Claimed]:
        """Take up to ``limit`` requests nobody holds: pending ones, or running
        ones whose holder's lease ran out. On PostgreSQL, rows another process
        is claiming at this moment are skipped, not waited for."""
        free = sa.or_(R.c.state == PENDING, sa.and_(R.c.state == RUNNING, R.c.lease_until < now))
        # Not a batch past its expiry: what is left of it expires (see sweep).
        live = sa.select(B.c.id).where(B.c.processing_status == "in_progress", B.c.expires_at > now)
        chosen = sa.select(R.c.batch_id, R.c.idx).where(free, R.c.batch_id.in_(live)).limit(limit)
        if self.dialect == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        statement = (
            sa.update(R)
            .where(sa.tuple_(R.c.batch_id, R.c.idx).in_(chosen))
            .values(state=RUNNING, claim=worker, lease_until=now + lease, attempts=R.c.attempts + 1)
            .returning(R.c.batch_id, R.c.idx, R.c.custom_id, R.c.params)
        )
        async with self.writer.begin() as conn:
            rows = (await conn.execute(statement)).all()
        return [Claimed(r.batch_id, r.idx, r.custom_id, r.params) for r in rows]

    async def renew(self, worker: str, held: Sequence[Claimed], lease_until: float) -> None:
        """Extend the lease on requests still being worked on."""
        if not held:
            return
        async with self.writer.begin() as conn:
            await conn.execute(
                sa.update(R)
                .where(R.c.batch_id == sa.bindparam("b"), R.c.idx == sa.bindparam("i"), R.c.claim == worker)
                .values(lease_until=lease_until),
                [{"b": c.batch_id, "i": c.idx} for c in held],
            )

    async def finish(self, worker: str, outcomes: Sequence[Outcome]) -> None:
        """Write results; a request whose claim passed to another worker keeps that worker's."""
        if not outcomes:
            return
        if self.dialect == "postgresql":
            # One statement for the whole handful (UPDATE … FROM (VALUES …)): a round trip per row costs more.
            written = sa.values(
                sa.column("b", sa.String),
                sa.column("i", sa.Integer),
                sa.column("s", sa.String),
                sa.column("r", sa.Text),
                name="written",
            ).data([(o.batch_id, o.idx, o.state, o.result) for o in outcomes])
            key = (R.c.batch_id == written.c.b, R.c.idx == written.c.i)
            values: dict[str, Any] = {"state": written.c.s, "result": written.c.r}
            rows: list[dict[str, Any]] | None = None
        else:
            key = (R.c.batch_id == sa.bindparam("b"), R.c.idx == sa.bindparam("i"))
            values = {"state": sa.bindparam("s"), "result": sa.bindparam("r")}
            rows = [{"b": o.batch_id, "i": o.idx, "s": o.state, "r": o.result} for o in outcomes]
        statement = (
            sa.update(R)
            .where(*key, R.c.claim == worker, R.c.state == RUNNING)
            .values(**values, lease_until=None, processed_by=worker)
        )
        async with self.writer.begin() as conn:
            await conn.execute(statement, rows) if rows is not None else await conn.execute(statement)

    async def settle(self, batch_ids: Iterable[str], now: float) -> None:
        """End the batches that have no request left to process, with their tallies."""
        for batch_id in set(batch_ids):
            async with self.writer.begin() as conn:
                left = await conn.execute(
                    sa.select(R.c.idx).where(R.c.batch_id == batch_id, R.c.state.in_(UNFINISHED)).limit(1)
                )
                if left.first() is not None:
                    continue
                counts = {SUCCEEDED: 0, ERRORED: 0, CANCELED: 0, EXPIRED: 0}
                tally = await conn.execute(
                    sa.select(R.c.state, sa.func.count()).where(R.c.batch_id == batch_id).group_by(R.c.state)
                )
                for state, count in tally:
                    counts[state] = count
                await conn.execute(
                    sa.update(B)
                    .where(B.c.id == batch_id, B.c.processing_status != "ended")
                    .values(processing_status="ended", ended_at=now, **counts)
                )

    async def sweep(self, now: float) -> None:
        """Expire what was not processed in time, and end batches left with
        nothing to do (a worker may have died between its last result and ending the batch)."""
        async with self.writer.begin() as conn:
            overdue = sa.select(B.c.id).where(B.c.expires_at <= now, B.c.processing_status != "ended")
            await conn.execute(
                sa.update(R).where(R.c.batch_id.in_(overdue), R.c.state.in_(UNFINISHED)).values(state=EXPIRED)
            )
        async with self.reader.connect() as conn:
            open_ids = (await conn.execute(sa.select(B.c.id).where(B.c.processing_status != "ended"))).scalars().all()
        await self.settle(open_ids, now)

    # -- files --------------------------------------------------------------

    async def add_file(self, file: dict[str, Any]) -> None:
        async with self.writer.begin() as conn:
            await conn.execute(sa.insert(F).values(**file))

    async def get_file(self, file_id: str) -> dict[str, Any] | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(sa.select(F).where(F.c.id == file_id))).mappings().first()
        return dict(row) if row is not None else None

    async def list_files(
        self, *, after_id: str | None, before_id: str | None, limit: int, scope_id: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        where = F.c.scope_id == scope_id if scope_id is not None else None
        return await self._page(F, after_id=after_id, before_id=before_id, limit=limit, where=where)

    async def delete_file(self, file_id: str) -> bool:
        async with self.writer.begin() as conn:
            return (await conn.execute(sa.delete(F).where(F.c.id == file_id))).rowcount > 0

    # -- secrets ------------------------------------------------------------

    async def secret(self, name: str) -> str:
        """The secret ``name``: random, made by the first process to ask, the
        same for every process on this database from then on."""
        from sqlalchemy.dialects import postgresql, sqlite

        insert = (postgresql if self.dialect == "postgresql" else sqlite).insert(S)
        made = insert.values(name=name, value=secrets.token_urlsafe(32), created_at=time.time())
        async with self.writer.begin() as conn:
            await conn.execute(made.on_conflict_do_nothing(index_elements=[S.c.name]))
            return (await conn.execute(sa.select(S.c.value).where(S.c.name == name))).scalar_one()

    # -- API keys -------------------------------------------------------------

    async def add_key(self, key: dict[str, Any]) -> None:
        async with self.writer.begin() as conn:
            await conn.execute(sa.insert(K).values(**key, revision=await _next_key_revision(conn)))

    async def update_key(
        self, key_id: str, change: Callable[[dict[str, Any]], Mapping[str, Any]]
    ) -> dict[str, Any] | None:
        """Change a key: ``change`` is given its row (held until the change
        commits) and returns the new values. The row after, None if there is no such key."""
        async with self.writer.begin() as conn:
            query = sa.select(K).where(K.c.id == key_id)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            values = change(dict(row))
            if not values:
                return dict(row)
            revision = await _next_key_revision(conn)
            changed = sa.update(K).where(K.c.id == key_id).values(**values, revision=revision).returning(*K.c)
            return dict((await conn.execute(changed)).mappings().one())

    async def get_key(self, key_id: str) -> dict[str, Any] | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(sa.select(K).where(K.c.id == key_id))).mappings().first()
        return dict(row) if row is not None else None

    async def list_keys(
        self,
        *,
        after_id: str | None,
        before_id: str | None,
        limit: int,
        revoked: bool | None = None,
        workspace_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; ``revoked`` True or False keeps only revoked or only live keys."""
        where = [K.c.workspace_id == workspace_id] if workspace_id is not None else []
        if revoked is not None:
            where.append(K.c.revoked_at.is_not(None) if revoked else K.c.revoked_at.is_(None))
        return await self._page(
            K, after_id=after_id, before_id=before_id, limit=limit, where=sa.and_(*where) if where else None
        )

    async def key_revision(self) -> int:
        """The revision of the newest change to any key or workspace (0: none yet)."""
        async with self.reader.connect() as conn:
            return (await conn.execute(sa.select(KR.c.revision).where(KR.c.id == 1))).scalar_one()

    async def keys_since(self, revision: int) -> list[dict[str, Any]]:
        """Every key changed after ``revision``, oldest change first."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(sa.select(K).where(K.c.revision > revision).order_by(K.c.revision))
            return [dict(row) for row in rows.mappings()]

    async def touch_keys(self, used: Mapping[str, float]) -> None:
        """Record when keys were last used (``{id: time}``); a later time already kept stays."""
        if not used:
            return
        statement = (
            sa.update(K)
            .where(
                K.c.id == sa.bindparam("key"), sa.or_(K.c.last_used_at.is_(None), K.c.last_used_at < sa.bindparam("t"))
            )
            .values(last_used_at=sa.bindparam("t"))
        )
        async with self.writer.begin() as conn:
            # In one order in every process: two flushes never wait on each other's rows.
            await conn.execute(statement, [{"key": key, "t": used[key]} for key in sorted(used)])

    # -- workspaces' limits -----------------------------------------------------

    async def put_workspace(self, workspace_id: str, rate_limits: str, now: float) -> dict[str, Any]:
        """Set a workspace's limits (JSON), made if it has none; the row after."""
        async with self.writer.begin() as conn:
            # The counter first: its row lock makes concurrent puts of one new workspace take turns.
            revision = await _next_key_revision(conn)
            found = (await conn.execute(sa.select(W.c.rate_limits).where(W.c.id == workspace_id))).first()
            values = {"rate_limits": rate_limits, "updated_at": now, "revision": revision}
            if found is None:
                statement: Any = sa.insert(W).values(id=workspace_id, created_at=now, **values)
            else:
                made = {"created_at": now} if found.rate_limits is None else {}  # limits removed: made anew
                statement = sa.update(W).where(W.c.id == workspace_id).values(**values, **made)
            await conn.execute(statement)
            return dict((await conn.execute(sa.select(W).where(W.c.id == workspace_id))).mappings().one())

    async def remove_workspace(self, workspace_id: str, now: float) -> dict[str, Any] | None:
        """Remove a workspace's limits, keeping the row (limits NULL) for other processes to
        read the removal; the row before, None if it had no limits."""
        async with self.writer.begin() as conn:
            query = sa.select(W).where(W.c.id == workspace_id, W.c.rate_limits.is_not(None))
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            revision = await _next_key_revision(conn)
            await conn.execute(
                sa.update(W).where(W.c.id == workspace_id).values(rate_limits=None, updated_at=now, revision=revision)
            )
            return dict(row)

    async def get_workspace(self, workspace_id: str) -> dict[str, Any] | None:
        """A workspace with limits; None if it has none."""
        async with self.reader.connect() as conn:
            query = sa.select(W).where(W.c.id == workspace_id, W.c.rate_limits.is_not(None))
            row = (await conn.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def list_workspaces(
        self, *, after_id: str | None, before_id: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The workspaces with limits, newest first, as every list."""
        return await self._page(
            W, after_id=after_id, before_id=before_id, limit=limit, where=W.c.rate_limits.is_not(None)
        )

    async def workspaces_since(self, revision: int) -> list[dict[str, Any]]:
        """Every workspace changed after ``revision`` (removals too: limits None), oldest change first."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(sa.select(W).where(W.c.revision > revision).order_by(W.c.revision))
            return [dict(row) for row in rows.mappings()]


async def _next_key_revision(conn: Any) -> int:
    """Bump the keys' (and workspaces') revision: the counter's row stays locked until the change commits."""
    bumped = sa.update(KR).where(KR.c.id == 1).values(revision=KR.c.revision + 1).returning(KR.c.revision)
    return (await conn.execute(bumped)).scalar_one()


def _upgrade(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def now() -> float:
    return time.time()


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/dateline``, else ``~/.local/share/dateline``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "dateline"
