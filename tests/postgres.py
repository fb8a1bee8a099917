"""Fixtures: a real PostgreSQL server for tests, started from the system binaries.

Why a real server: SQLite hides the things PostgreSQL gets strict about (types,
transactions, concurrency, dialect), so code that claims to support PostgreSQL is
tested against PostgreSQL. The fixtures start it themselves; nothing started by
hand is assumed.

Shape: one server per pytest(-xdist) worker, started lazily the first time a test
asks for it (sqlite-only runs never start one) and stopped at the end of the
session; one fresh database per test, dropped afterwards.

PostgreSQL refuses to run as root, so when the tests run as root the server runs
as the ``postgres`` system user on a temp dir under /tmp that user owns.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

INSTALL_HINT = "install them with: apt-get install -y postgresql"
START_TIMEOUT = 60  # seconds, for pg_ctl -w


def find_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres, or raise with a clear message."""
    candidates: list[Path] = []
    if env := os.environ.get("DATELINE_PG_BINDIR"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.parent.name))

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        candidates.append(Path(initdb).parent)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)

    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: looked at "
        "$DATELINE_PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin and $PATH; "
        + INSTALL_HINT
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp dir, trust auth, user ``postgres``."""

    user = "postgres"
    host = "127.0.0.1"

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir
        self.port: int | None = None
        self.root: Path | None = None
        self.running = False

    # -- paths ---------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        assert self.root is not None
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    # -- running the binaries --------------------------------------------------

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root but `runuser` is missing: cannot drop to postgres")
        return [runuser, "-u", "postgres", "--", *argv]

    def _run(self, tool: str, *args: str, timeout: float = START_TIMEOUT + 30) -> str:
        assert self.bindir is not None and self.root is not None
        argv = self._as_server_user([str(self.bindir / tool), *args])
        proc = subprocess.run(
            argv,
            cwd=self.root,  # the server user may not be able to read the caller's cwd
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}{self._log_tail()}"
            )
        return proc.stdout

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- postgres log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> PostgresServer:
        if self.running:
            return self
        if self.bindir is None:
            self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dateline-pg-", dir="/tmp"))
        try:
            if os.geteuid() == 0:
                try:
                    pw = pwd.getpwnam("postgres")
                except KeyError:
                    raise RuntimeError(
                        "running as root but there is no `postgres` system user to run "
                        "PostgreSQL as; " + INSTALL_HINT
                    ) from None
                os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._run(
                "initdb",
                "-D", str(self.datadir),
                "--auth=trust",
                "-U", self.user,
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            )
            self._make_sockdir()
            self._start_postmaster()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)  # backup if the session dies before teardown
        return self

    def _make_sockdir(self) -> None:
        self.sockdir.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.sockdir, pw.pw_uid, pw.pw_gid)

    def _start_postmaster(self, attempts: int = 3) -> None:
        # The free port can be taken between finding and binding it (another
        # xdist worker): retry on a new port.
        for attempt in range(attempts):
            self.port = free_port()
            options = " ".join([
                f"-p {self.port}",
                f"-k {self.sockdir}",
                f"-c listen_addresses={self.host}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ])
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile),
                          "-o", options, "-w", "-t", str(START_TIMEOUT), "start")
            except RuntimeError:
                if attempt + 1 < attempts and "could not bind" in self._log_tail(10):
                    continue
                raise
            self.running = True
            return

    def stop(self) -> None:
        if self.root is None:
            return
        if self.datadir.joinpath("postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                try:
                    self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "20",
                              "stop", timeout=40)
                    break
                except (RuntimeError, subprocess.SubprocessError, OSError):
                    continue
        self.running = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        assert self.port is not None, "server not started"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    async def _admin(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url("postgres"), timeout=30)
        try:
            for sql, args in statements:
                await conn.execute(sql, *args)
        finally:
            await conn.close()

    def create_database(self, name: str) -> str:
        """Create database ``name`` (from template0) and return its URL."""
        run_async(self._admin((f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0", ())))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, terminating any connections to it first."""
        run_async(self._admin(
            ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = $1 AND pid <> pg_backend_pid()", (name,)),
            (f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)", ()),
        ))


def unique_dbname(node_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", node_name.lower()).strip("_")[:40]
    return f"t_{slug}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server per worker, started the first time a test asks for it."""
    server = PostgresServer()
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test: ``postgresql://postgres@127.0.0.1:PORT/NAME``."""
    name = unique_dbname(request.node.name)
    url = postgres_server.create_database(name)
    yield url
    try:
        postgres_server.drop_database(name)
    except Exception:
        pass


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test runs once per backend: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dateline.db'}"
    return request.getfixturevalue("postgres_url")
