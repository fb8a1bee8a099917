"""Fixtures: a real Redis server for tests, started from the system binary.

Why a real server: what Redis shares between replicas (rate-limit buckets updated
by a Lua script, usage counters written in one transaction) is only tested by
running it. The fixtures start it themselves; nothing started by hand is assumed
(CI installs the `redis-server` package when it is missing, see .ci/run).

Shape: one server per pytest(-xdist) worker, started lazily the first time a test
asks for it and stopped at the end of the session; flushed before every test that
asks for ``redis_url``. Nothing is written to disk (``--save "" --appendonly no``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL_HINT = "install it with: apt-get install -y redis-server"
START_TIMEOUT = 20  # seconds until the server answers PING


def find_server() -> str:
    """The redis-server binary: $DATELINE_REDIS_SERVER, else the one on $PATH."""
    for candidate in (os.environ.get("DATELINE_REDIS_SERVER"), shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("redis-server not found: looked at $DATELINE_REDIS_SERVER and $PATH; " + INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port: int, *words: str, timeout: float = 2.0) -> bytes:
    """One RESP command, its raw reply (no client library, so the fixture stands on its own)."""
    request = f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        return conn.recv(1024)


class RedisServer:
    """A throwaway redis-server on 127.0.0.1, no persistence, its log in a temp dir."""

    host = "127.0.0.1"

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary
        self.port: int | None = None
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "server not started"
        return f"redis://{self.host}:{self.port}/0"

    @property
    def logfile(self) -> Path:
        assert self.root is not None
        return self.root / "redis.log"

    def start(self, attempts: int = 3) -> RedisServer:
        if self.process is not None:
            return self
        self.binary = self.binary or find_server()
        self.root = Path(tempfile.mkdtemp(prefix="dateline-redis-", dir="/tmp"))
        # The free port can be taken between finding and binding it (another xdist worker): retry.
        for attempt in range(attempts):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port),
                    "--bind", self.host,
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.root),
                    "--logfile", str(self.logfile),
                    "--daemonize", "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._wait():
                atexit.register(self.stop)  # backup if the session dies before teardown
                return self
            self._kill()
            if attempt + 1 == attempts or "Address already in use" not in self._log_tail():
                tail = self._log_tail()
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}{tail}")
        raise AssertionError("unreachable")

    def _wait(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None and self.port is not None
            if self.process.poll() is not None:
                return False
            try:
                if command(self.port, "PING").startswith(b"+PONG"):
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- redis log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def _kill(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        assert self.port is not None
        reply = command(self.port, "FLUSHALL")
        assert reply.startswith(b"+OK"), reply

    def stop(self) -> None:
        self._kill()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server per worker, started the first time a test asks for it."""
    server = RedisServer()
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"could not start Redis for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0``, emptied for this test."""
    redis_server.flush()
    return redis_server.url
