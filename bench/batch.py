#!/usr/bin/env python
"""Message Batches benchmark: ``python bench/batch.py`` (or the "batches"
section of ``bench/run.py``).

End-to-end requests/s of one batch of 10,000 requests on the built-in model,
as a client sees it: submit (one POST), poll until the batch has ended,
download every result. Measured with the state in SQLite (a data dir in a
temp dir) and in a temporary PostgreSQL, each against a baseline measured on
the same server in the same run: the same number of requests sent one by one
as ``POST /v1/messages`` over 16 concurrent connections.

Every prompt differs (it carries its index, and the batch's prompts differ
from the baseline's), so the built-in model's memo answers none of them.
The server is a real subprocess (``python -m dateline serve``); everything
started here is stopped again. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from load import MESSAGES, probe
from progress import log
from servers import API_KEY, DATELINE_READY, Server, dateline_server, free_port, run_script, running
from table import Row, fmt_rps, markdown

REQUESTS = 10_000
QUICK_REQUESTS = 1_000
CONNECTIONS = 16
POLL_INTERVAL = 0.025  # seconds; small against the processing time it measures
BACKENDS = ("sqlite", "postgresql")
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}


def params(i: int, tag: str) -> dict:
    """Request ``i``; ``tag`` keeps the batch's prompts apart from the baseline's."""
    content = f"Hello, tell me about tide pools ({tag} {i})"
    return {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": content}]}


# --------------------------------------------------------------------------- measurements


class Throughput:
    """Requests over the seconds they took, as a client saw them."""

    requests: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class BatchRun(Throughput):
    requests: int
    submit_s: float
    processing_s: float  #: from the creating POST's answer until a poll saw the batch ended
    download_s: float
    results_bytes: int
    server_s: float  #: the batch's own created_at → ended_at
    server_cpu_s: float  #: CPU the server's processes used, submit to download

    @property
    def seconds(self) -> float:
        return self.submit_s + self.processing_s + self.download_s


@dataclass
class DirectRun(Throughput):
    requests: int
    seconds: float
    server_cpu_s: float
    client_cpu_s: float  #: this process's, the load generator's


@dataclass
class Measured:
    backend: str
    batch: BatchRun | None = None
    direct: DirectRun | None = None
    failure: str | None = None


def rfc3339_seconds(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_batch(server: Server, count: int) -> BatchRun:
    requests = [{"custom_id": f"req-{i}", "params": params(i, "batch")} for i in range(count)]
    payload = orjson.dumps({"requests": requests})
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=600) as client:
        cpu = server.cpu_seconds()
        start = time.perf_counter()
        response = client.post("/v1/messages/batches", content=payload)
        if response.status_code != 200:
            raise RuntimeError(f"batch create answered {response.status_code}: {response.text[:300]}")
        batch = response.json()
        submitted = time.perf_counter()
        while batch["processing_status"] != "ended":
            time.sleep(POLL_INTERVAL)
            batch = client.get(f"/v1/messages/batches/{batch['id']}").raise_for_status().json()
        ended = time.perf_counter()
        size, kinds, rest = 0, Counter(), b""
        with client.stream("GET", batch["results_url"]) as results:
            results.raise_for_status()
            for chunk in results.iter_bytes(1 << 16):
                size += len(chunk)
                *lines, rest = (rest + chunk).split(b"\n")
                kinds.update(orjson.loads(line)["result"]["type"] for line in lines if line)
        downloaded = time.perf_counter()
        cpu = server.cpu_seconds() - cpu
    if rest.strip() or kinds != Counter(succeeded=count):
        raise RuntimeError(f"expected {count:,} succeeded results, got {dict(kinds)}")
    server_s = rfc3339_seconds(batch["ended_at"]) - rfc3339_seconds(batch["created_at"])
    return BatchRun(count, submitted - start, ended - submitted, downloaded - ended, size, server_s, cpu)


async def run_direct(server: Server, count: int, connections: int = CONNECTIONS) -> DirectRun:
    """The baseline: ``count`` requests as POST /v1/messages, ``connections`` at a time.

    One AsyncClient per connection: a single client's pool of 16 costs the
    client far more CPU per request (its pool is scanned on every request),
    and the baseline should measure the server as far as httpx allows.
    """
    bodies = [orjson.dumps(params(i, "direct")) for i in range(count)]
    todo = iter(bodies)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, headers=HEADERS, limits=limits,
                                                              timeout=60))
            for _ in range(connections)
        ]

        async def one_connection(client: httpx.AsyncClient) -> None:
            for body in todo:  # shared: each body is taken by exactly one connection
                response = await client.post("/v1/messages", content=body)
                if response.status_code != 200:
                    raise RuntimeError(f"/v1/messages answered {response.status_code}: {response.text[:300]}")

        await asyncio.gather(*(client.get("/v1/models") for client in clients))  # connected before the clock starts
        cpu, client_cpu, start = server.cpu_seconds(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(one_connection(client) for client in clients))
        seconds = time.perf_counter() - start
        return DirectRun(count, seconds, server.cpu_seconds() - cpu, time.process_time() - client_cpu)


# --------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A throwaway PostgreSQL cluster from the system binaries: trust auth, user
    ``postgres``, run as the ``postgres`` system user when we are root (it
    refuses to run as root). tests/postgres.py does the same for the tests, but
    needs pytest to import."""

    def __init__(self) -> None:
        self.bindir = self.find_bindir()
        self.port = free_port()
        # Its own dir under /tmp, not inside the run's temp dir (root's, mode 700): the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="dateline-bench-pg-", dir="/tmp"))

    @staticmethod
    def find_bindir() -> Path:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
        if found:
            return Path(found[-1]).parent
        if initdb := shutil.which("initdb"):
            return Path(initdb).parent
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install -y postgresql")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, cwd=self.root, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stdout}{result.stderr}")

    def start(self) -> None:
        sockdir = self.root / "sock"
        sockdir.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.root, sockdir):
                os.chown(path, user.pw_uid, user.pw_gid)
        log(f"starting PostgreSQL ({self.bindir.parent.name}) on port {self.port}")
        self._run("initdb", "-D", "data", "--auth=trust", "-U", "postgres", "--no-sync", "--encoding=UTF8",
                  "--locale=C")
        # synchronous_commit=off: a killed server loses nothing, a power cut the last commits,
        # the same promise as Dateline's SQLite (WAL, synchronous=NORMAL).
        options = f"-p {self.port} -k {sockdir} -c listen_addresses=127.0.0.1 -c synchronous_commit=off"
        self._run("pg_ctl", "-D", "data", "-l", "postgres.log", "-o", options, "-w", "start")

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                self._run("pg_ctl", "-D", "data", "-m", "fast", "-w", "stop")
                log("stopped PostgreSQL")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[list[str]]:
    """The ``serve`` flags that put the state in ``backend`` (started here if it is PostgreSQL)."""
    data_dir = tmp / f"data-{backend}"  # the SQLite file, and uploaded files with either backend
    if backend == "sqlite":
        yield ["--data-dir", str(data_dir)]
        return
    postgres = Postgres()
    try:
        postgres.start()
        yield ["--data-dir", str(data_dir), "--database-url", postgres.url]
    finally:
        postgres.stop()


def measure_backend(backend: str, count: int, tmp: Path, workers: int = 1) -> Measured:
    measured = Measured(backend)
    try:
        with database(backend, tmp) as flags:
            server = dateline_server(tmp, workers)
            server.name = f"dateline ({BACKEND_NAMES[backend]})"
            server.argv += flags
            with running(server, *DATELINE_READY, timeout=60):
                probe(server, MESSAGES)
                log(f"{BACKEND_NAMES[backend]}: one batch of {count:,} requests")
                measured.batch = batch = run_batch(server, count)
                log(f"{BACKEND_NAMES[backend]} batch: {batch.rps:,.0f} requests/s (submit {batch.submit_s:.2f} s, "
                    f"processing {batch.processing_s:.2f} s, download {batch.download_s:.2f} s)")
                measured.direct = direct = asyncio.run(run_direct(server, count))
                log(f"{BACKEND_NAMES[backend]} direct: {direct.rps:,.0f} requests/s over {CONNECTIONS} connections")
    except Exception as exc:  # noqa: BLE001 - reported in the table; the other backend still runs
        measured.failure = str(exc).strip() or type(exc).__name__
        log(f"batches on {BACKEND_NAMES[backend]} FAILED: {measured.failure}")
    return measured


def measure(count: int, backends: tuple[str, ...] = BACKENDS, workers: int = 1, tmp: Path | None = None) -> list[Measured]:
    with contextlib.ExitStack() as stack:
        if tmp is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dateline-bench-batch-")))
        return [measure_backend(backend, count, tmp, workers) for backend in backends]


# --------------------------------------------------------------------------- report


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def fmt_bytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def cpu_per_request(cpu_s: float, requests: int) -> str:
    return f"{cpu_s / requests * 1000:.2f} ms"


def rows(measured: list[Measured], count: int) -> list[Row]:
    """Two rows per backend for bench/run.py's table: the batch, and its baseline."""
    table = []
    for m in measured:
        name = BACKEND_NAMES[m.backend]
        batch_row = Row(f"Dateline batch of {count:,}, {name}: submit, process, download (requests/s)")
        direct_row = Row(f"Baseline: {count:,} × POST /v1/messages, {CONNECTIONS} connections, same server "
                                 f"({name}) (requests/s)")
        b, d = m.batch, m.direct
        if b:
            batch_row.figure = fmt_rps(b.rps)
            batch_row.measured = (f"submit {fmt_s(b.submit_s)}, processing {fmt_s(b.processing_s)}, "
                                  f"download {fmt_s(b.download_s)}; results {fmt_bytes(b.results_bytes)}; "
                                  f"server CPU {cpu_per_request(b.server_cpu_s, b.requests)}/request")
        else:
            batch_row.figure = f"failed: {m.failure.splitlines()[0]}" if m.failure else "not measured"
        if d:
            direct_row.figure = fmt_rps(d.rps)
            direct_row.measured = (f"server CPU {cpu_per_request(d.server_cpu_s, d.requests)}/request; "
                                   f"load generator {d.client_cpu_s / d.seconds:.0%} of a core")
            if b:
                direct_row.measured = f"batch {b.rps / d.rps:.2f}× baseline; " + direct_row.measured
        else:
            direct_row.figure = "failed" if m.failure else "not measured"
        table += [batch_row, direct_row]
    return table


def summary(measured: list[Measured]) -> str:
    """The table ``python bench/batch.py`` prints: one row per backend."""
    header = ["backend", "batch req/s", "baseline req/s", "batch ÷ baseline", "submit", "processing", "download",
              "results file", "server CPU/request, batch", "server CPU/request, baseline", "load generator CPU, baseline"]
    lines = []
    for m in measured:
        b, d = m.batch, m.direct
        cells = [BACKEND_NAMES[m.backend]]
        if b is None:
            cells += [f"failed: {m.failure.splitlines()[0]}" if m.failure else "not measured"]
            cells += ["–"] * (len(header) - len(cells))
        else:
            cells += [fmt_rps(b.rps), fmt_rps(d.rps) if d else "–",
                      f"{b.rps / d.rps:.2f}×" if d else "–", fmt_s(b.submit_s), fmt_s(b.processing_s),
                      fmt_s(b.download_s), fmt_bytes(b.results_bytes), cpu_per_request(b.server_cpu_s, b.requests),
                      cpu_per_request(d.server_cpu_s, d.requests) if d else "–",
                      f"{d.client_cpu_s / d.seconds:.0%} of a core" if d else "–"]
        lines.append(cells)
    return markdown(header, lines)


def facts(count: int, workers: int) -> str:
    return (f"- batches: one batch of {count:,} requests (max_tokens 16, every prompt different) created in one "
            f"POST, polled every {POLL_INTERVAL * 1000:.0f} ms until ended, results downloaded; the baseline sends "
            f"{count:,} other prompts as POST /v1/messages over {CONNECTIONS} httpx connections to the same server; "
            f"state in SQLite (temp data dir) or a temporary PostgreSQL (synchronous_commit=off); "
            f"{workers} server worker(s), default --batch-concurrency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark Message Batches against POST /v1/messages.")
    parser.add_argument("--requests", type=int, help=f"requests in the batch (default {REQUESTS:,}; "
                        f"{QUICK_REQUESTS:,} with --quick)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REQUESTS:,} requests")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma list of: sqlite, postgresql")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if unknown := sorted(set(backends) - set(BACKENDS)):
        parser.error(f"--backends: unknown {', '.join(unknown)}")
    count = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    measured = measure(count, backends, args.workers)
    print(f"# Dateline Message Batches, {count:,} requests\n\n- machine: nproc {os.cpu_count()}\n"
          f"{facts(count, args.workers)}\n\n{summary(measured)}")
    for m in measured:
        if m.batch:
            print(f"\n{BACKEND_NAMES[m.backend]}: the server took {m.batch.server_s:.2f} s from created_at to ended_at")
    return 1 if any(m.failure for m in measured) else 0


if __name__ == "__main__":
    run_script(main)
