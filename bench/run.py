#!/usr/bin/env python
"""Dateline benchmark, in one run: ``python bench/run.py``.

Measures, against the floor (a minimal Starlette app on the same server)
measured in the same run:

- Dateline's built-in model: non-streaming and streaming Messages, streamed
  legacy Text Completions under 2023-06-01 and 2023-01-01 (the cost of the
  version migration), token counting, and time to first streamed event;
- the LiteLLM proxy's ``/v1/messages`` (mock reply) under the same load;
- Dateline in front of a fixed-reply OpenAI-compatible upstream: its
  throughput and the latency it adds, against the upstream alone and against
  LiteLLM translating to the same upstream (``bench/proxy.py``);
- Dateline's memory, idle and holding many open streams;
- Message Batches end to end, on SQLite and PostgreSQL, against the same
  requests sent one by one (``bench/batch.py``).

Throughput rows use ``wrk`` (installed with apt-get when missing) with the Lua
scripts in ``bench/lua``. Everything is started on free loopback ports and
always stopped again. The markdown table goes to stdout and to
``bench/results/latest.md``; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.metadata
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx

HERE = Path(__file__).resolve().parent
LUA = HERE / "lua"
LITELLM_VENV = HERE / ".venv-litellm"
DEFAULT_OUTPUT = HERE / "results" / "latest.md"
API_KEY = "sk-ant-bench-key"  # the key in the Lua scripts; LiteLLM's master key too

GROUPS = ("floor", "messages", "stream", "complete", "count_tokens", "litellm", "proxy", "memory", "batches")
DATELINE_GROUPS = {"messages", "stream", "complete", "count_tokens"}

# Targets.
FLOOR_RATIO_MIN = 0.8
LITELLM_RATIO_MIN = 100.0
MIGRATION_SLOWDOWN_MAX = 0.10
OPEN_STREAMS_TARGET = 1000
OPEN_STREAMS_RSS_MAX_MB = 150.0

# Memory run: streams must stay open while all of them are opened and sampled.
MEMORY_TOKEN_DELAY = 1.0
MEMORY_BODY = (
    b'{"model":"claude-sonnet-4-5","max_tokens":200,"stream":true,'
    b'"messages":[{"role":"user","content":"Write a detailed essay about tide pools"}]}'
)

LITELLM_CONFIG = """\
model_list:
  - model_name: claude-sonnet-4-5
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-ant-unused
      mock_response: "Tide pools fill at high tide."
"""

T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- config


@dataclass
class Config:
    duration: int = 10
    warmup: int = 2
    threads: int = 1
    connections: int = 32
    workers: int = 1
    first_event_concurrency: int = 8
    streams: int = OPEN_STREAMS_TARGET
    batch_requests: int = 10_000
    groups: tuple[str, ...] = GROUPS
    litellm: bool = True  #: False with --no-litellm: no LiteLLM row in any section
    output: Path = DEFAULT_OUTPUT

    @property
    def first_event_seconds(self) -> int:
        return max(1, self.duration // 2)

    def wrk_flags(self, seconds: int) -> list[str]:
        return [f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description="Benchmark Dateline against a floor and LiteLLM.")
    parser.add_argument("--duration", type=int, help="seconds per throughput row (default 10; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="1 s per row, no warm-up, 100 open streams")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM rows")
    parser.add_argument("--only", help=f"comma list of: {', '.join(GROUPS)}")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write")
    args = parser.parse_args(argv)
    groups = GROUPS
    if args.only:
        groups = tuple(name.strip() for name in args.only.split(",") if name.strip())
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            parser.error(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(GROUPS)})")
    if args.no_litellm:
        groups = tuple(g for g in groups if g != "litellm")
    config = Config(workers=args.workers, groups=groups, output=args.output, litellm=not args.no_litellm)
    if args.quick:
        config.duration, config.warmup, config.streams, config.batch_requests = 1, 0, 100, 1_000
    if args.duration is not None:
        if args.duration < 1:
            parser.error("--duration must be at least 1")
        config.duration = args.duration
    return config


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a server: ours, without stray Dateline settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATELINE_")}
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=child_env)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log(f"starting {self.name} on port {self.port}")
        with open(self.log_path, "wb") as out:
            # A session of its own, so the whole group (workers too) can be stopped.
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True,
            )

    def wait_ready(self, path: str, headers: dict[str, str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
                try:
                    if client.get(self.url + path, headers=headers).status_code == 200:
                        log(f"{self.name} ready")
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of the group (the leader or stray workers) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None
        log(f"stopped {self.name}")

    def rss_mb(self) -> float:
        assert self.process is not None
        return sum(vm_rss_kb(pid) for pid in process_tree(self.process.pid)) / 1024

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running(server: Server, ready_path: str, ready_headers: dict[str, str], timeout: float) -> Iterator[Server]:
    """Start a server, wait until it answers, and always stop it afterwards."""
    try:
        server.start()
        server.wait_ready(ready_path, ready_headers, timeout)
        yield server
    finally:
        server.stop()


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def dateline_server(tmp: Path, workers: int, token_delay: float = 0.0) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "dateline", "serve", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--token-delay", str(token_delay)]
    return Server("dateline", argv, port, tmp / f"dateline-{port}.log")


def floor_server(tmp: Path, workers: int) -> Server:
    port = free_port()
    argv = [sys.executable, str(HERE / "floor.py"), "--port", str(port), "--workers", str(workers)]
    return Server("floor", argv, port, tmp / f"floor-{port}.log")


def litellm_server(tmp: Path, workers: int, config_text: str = LITELLM_CONFIG) -> Server:
    port = free_port()
    config = tmp / f"litellm-{port}.yaml"
    config.write_text(config_text)
    argv = [str(ensure_litellm()), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", str(workers)]
    env = child_env(LITELLM_MASTER_KEY=API_KEY, LITELLM_LOCAL_MODEL_COST_MAP="True")
    return Server("litellm", argv, port, tmp / f"litellm-{port}.log", env=env)


DATELINE_READY = ("/v1/models", {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})


# --------------------------------------------------------------------------- tools


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: installing it with apt-get")
    for command in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if command[1] == "install" and result.returncode == 0:
            break
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is missing and `apt-get install -y wrk` failed: install wrk and run again")
    return found


def ensure_litellm() -> Path:
    """The LiteLLM proxy in its own venv, installed on first use (a few minutes)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    log(f"installing litellm[proxy] into {LITELLM_VENV} (takes a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "litellm[proxy]"],
                   check=True)
    return exe


def package_version(name: str, python: Path | None = None) -> str:
    if python is None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


# --------------------------------------------------------------------------- requests


@dataclass
class Shape:
    """One request shape: a wrk Lua script, and the same request for probing."""

    script: Path
    path: str
    method: str
    headers: dict[str, str]
    body: bytes

    @classmethod
    def load(cls, name: str, path: str) -> "Shape":
        script = LUA / f"{name}.lua"
        text = script.read_text()
        method = re.search(r'wrk\.method\s*=\s*"([^"]+)"', text).group(1)
        headers = dict(re.findall(r'wrk\.headers\["([^"]+)"\]\s*=\s*"([^"]*)"', text))
        body = re.search(r"wrk\.body\s*=\s*\[\[(.*?)\]\]", text, re.S).group(1).encode()
        return cls(script, path, method, headers, body)


MESSAGES = Shape.load("messages", "/v1/messages")
MESSAGES_VARIED = Shape.load("messages_varied", "/v1/messages")
MESSAGES_STREAM = Shape.load("messages_stream", "/v1/messages")
COMPLETE_NEW = Shape.load("complete_stream_2023_06_01", "/v1/complete")
COMPLETE_OLD = Shape.load("complete_stream_2023_01_01", "/v1/complete")
COUNT_TOKENS = Shape.load("count_tokens", "/v1/messages/count_tokens")


def probe(server: Server, shape: Shape) -> bytes:
    """One real request: it must succeed before the shape is put under load."""
    with httpx.Client(timeout=30) as client:
        response = client.request(shape.method, server.url + shape.path, headers=shape.headers, content=shape.body)
    if response.status_code != 200:
        raise RuntimeError(f"{server.name} {shape.path} answered {response.status_code}: {response.text[:300]}")
    return response.content


def count_events(stream_body: bytes) -> int:
    """Server-sent events in a complete stream body (``[DONE]`` included)."""
    return sum(1 for block in stream_body.replace(b"\r\n", b"\n").split(b"\n\n") if block.strip())


# --------------------------------------------------------------------------- wrk


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> Load:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if not match:
            raise RuntimeError(f"no {percent}% latency in wrk output:\n{output}")
        return float(match.group(1)) * _UNITS_MS[match.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    requests = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not rps or not requests:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return Load(float(rps.group(1)), latency("50"), latency("99"), int(requests.group(1)), errors)


@dataclass
class Target:
    """One throughput row: a request shape against a server, reported under ``key``."""

    key: str
    server: Server
    shape: Shape


def wrk(config: Config, *targets: Target) -> dict[str, Load]:
    """Load each target for ``config.duration`` seconds, after its warm-up.

    Two targets (a comparison) alternate in A B B A order, each half as long,
    so that a drift in the machine's background load hits both alike.
    """
    for target in targets:
        probe(target.server, target.shape)
        if config.warmup:
            run_wrk(config, config.warmup, target)
    halves = [config.duration // 2, config.duration - config.duration // 2]
    if len(targets) == 1 or halves[0] == 0:
        rounds = [(t, config.duration) for t in targets]
    else:
        rounds = [(t, halves[0]) for t in targets] + [(t, halves[1]) for t in reversed(targets)]
    runs: dict[str, list[Load]] = {t.key: [] for t in targets}
    for target, seconds in rounds:
        runs[target.key].append(parse_wrk(run_wrk(config, seconds, target)))
    loads = {key: combine(parts) for key, parts in runs.items()}
    for key, load in loads.items():
        log(f"{key}: {load.rps:,.1f} requests/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms"
            + (f", {load.errors} errors" if load.errors else ""))
    return loads


def combine(parts: list[Load]) -> Load:
    """Runs of one target as one: mean rate; p50 the mean, p99 the largest of the runs'."""
    return Load(
        rps=sum(p.rps for p in parts) / len(parts),
        p50_ms=sum(p.p50_ms for p in parts) / len(parts),
        p99_ms=max(p.p99_ms for p in parts),
        requests=sum(p.requests for p in parts),
        errors=sum(p.errors for p in parts),
    )


def run_wrk(config: Config, seconds: int, target: Target) -> str:
    url = target.server.url + target.shape.path
    command = [ensure_wrk(), *config.wrk_flags(seconds), "-s", str(target.shape.script), url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    return result.stdout


# --------------------------------------------------------------------------- async clients


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


async def first_event_times(url: str, shape: Shape, seconds: float, concurrency: int) -> list[float]:
    """Seconds from sending each request to receiving its first whole event,
    with ``concurrency`` clients looping for ``seconds``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    times: list[float] = []
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                buffered, first = b"", None
                async with client.stream(shape.method, url, headers=shape.headers, content=shape.body) as response:
                    if response.status_code != 200:
                        raise RuntimeError(f"stream answered {response.status_code}")
                    async for chunk in response.aiter_raw():
                        if first is None:
                            buffered += chunk
                            if b"\n\n" in buffered:
                                first = time.perf_counter() - start
                if first is None:
                    raise RuntimeError("stream ended before its first event")
                times.append(first)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return times


def raise_fd_limit(wanted: int) -> None:
    """Room for many open sockets, here and in the servers started from here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def hold_open_streams(server: Server, count: int, samples: int = 5) -> float:
    """Open ``count`` streams, read each to its first event, then sample the
    server's RSS (MB, the largest sample) while all of them are still open."""
    request = (
        f"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n"
        f"content-type: application/json\r\nx-api-key: {API_KEY}\r\nanthropic-version: 2023-06-01\r\n"
        f"content-length: {len(MEMORY_BODY)}\r\n\r\n"
    ).encode() + MEMORY_BODY
    opening = asyncio.Semaphore(100)
    writers: list[asyncio.StreamWriter] = []
    drains: list[asyncio.Task] = []

    async def open_one() -> None:
        async with opening:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writers.append(writer)
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"stream refused: {head.splitlines()[0].decode(errors='replace')}")
            buffered = b""
            while b"\n\n" not in buffered:
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeError("stream closed before its first event")
                buffered += chunk
        drains.append(asyncio.create_task(drain(reader)))

    try:
        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(count))), timeout=120)
        log(f"{count} streams open")
        rss = []
        for _ in range(samples):
            if any(task.done() for task in drains):
                raise RuntimeError("a stream ended while sampling: raise the token delay")
            rss.append(server.rss_mb())
            await asyncio.sleep(0.2)
        return max(rss)
    finally:
        for task in drains:
            task.cancel()
        for writer in writers:
            writer.close()
        await asyncio.gather(*drains, return_exceptions=True)


async def drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


# --------------------------------------------------------------------------- measurements


@dataclass
class Results:
    loads: dict[str, Load] = field(default_factory=dict)
    stream_events: int | None = None
    first_event_ms: tuple[float, float, int] | None = None  # p50, p99, count
    idle_rss_mb: float | None = None
    open_rss_mb: float | None = None
    batches: list = field(default_factory=list)  # of bench/batch.py's Measured
    failures: dict[str, str] = field(default_factory=dict)


def measure_throughput(config: Config, tmp: Path, results: Results) -> None:
    """The floor and Dateline's rows, both servers up together so that the
    floor and Dateline's Messages row can alternate."""
    groups = set(config.groups)
    with contextlib.ExitStack() as servers:
        floor = dateline = None
        if "floor" in groups:
            floor = start(servers, results, "floor", floor_server(tmp, config.workers), "/", {})
        if groups & DATELINE_GROUPS:
            dateline = start(servers, results, "dateline", dateline_server(tmp, config.workers), *DATELINE_READY)
        messages = [Target("floor", floor, MESSAGES)] if floor else []
        if dateline and "messages" in groups:
            messages.append(Target("messages", dateline, MESSAGES))
        if messages:
            guarded(results, [t.key for t in messages], lambda: results.loads.update(wrk(config, *messages)))
        if dateline is None:
            return
        if "messages" in groups:
            varied = Target("messages_varied", dateline, MESSAGES_VARIED)
            guarded(results, ["messages"], lambda: results.loads.update(wrk(config, varied)))
        if "stream" in groups:
            guarded(results, ["stream"], lambda: measure_stream(config, dateline, results))
        if "complete" in groups:
            versions = Target("complete_new", dateline, COMPLETE_NEW), Target("complete_old", dateline, COMPLETE_OLD)
            guarded(results, ["complete"], lambda: results.loads.update(wrk(config, *versions)))
        if "count_tokens" in groups:
            guarded(results, ["count_tokens"], lambda: results.loads.update(
                wrk(config, Target("count_tokens", dateline, COUNT_TOKENS))))


def start(servers: contextlib.ExitStack, results: Results, name: str, server: Server, ready_path: str,
          ready_headers: dict[str, str]) -> Server | None:
    """Start a server for the rest of the ``servers`` block; None (and a recorded failure) if it won't."""
    try:
        return servers.enter_context(running(server, ready_path, ready_headers, timeout=60))
    except Exception as exc:  # noqa: BLE001 - reported in the table, and in the exit status
        record_failure(results, [name], exc)
        return None


def measure_stream(config: Config, server: Server, results: Results) -> None:
    results.stream_events = count_events(probe(server, MESSAGES_STREAM))
    results.loads.update(wrk(config, Target("stream", server, MESSAGES_STREAM)))
    times = asyncio.run(first_event_times(server.url + MESSAGES_STREAM.path, MESSAGES_STREAM,
                                          config.first_event_seconds, config.first_event_concurrency))
    results.first_event_ms = (percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000, len(times))
    log(f"first event: p50 {results.first_event_ms[0]:.2f} ms, p99 {results.first_event_ms[1]:.2f} ms")


def measure_litellm(config: Config, tmp: Path, results: Results) -> None:
    """LiteLLM alternating with a Dateline server, so the ratio sees the same background load."""
    with contextlib.ExitStack() as servers:
        dateline = servers.enter_context(running(dateline_server(tmp, config.workers), *DATELINE_READY, timeout=60))
        litellm = servers.enter_context(running(litellm_server(tmp, config.workers), "/health/readiness", {},
                                                timeout=180))
        results.loads.update(wrk(config, Target("litellm_dateline", dateline, MESSAGES),
                                 Target("litellm", litellm, MESSAGES)))


def measure_memory(config: Config, tmp: Path, results: Results) -> None:
    raise_fd_limit(config.streams * 2 + 1024)
    server = dateline_server(tmp, config.workers, token_delay=MEMORY_TOKEN_DELAY)
    with running(server, *DATELINE_READY, timeout=60):
        probe(server, MESSAGES)  # settle start-up work before measuring idle
        results.idle_rss_mb = server.rss_mb()
        log(f"idle RSS {results.idle_rss_mb:.1f} MB; opening {config.streams} streams")
        results.open_rss_mb = asyncio.run(hold_open_streams(server, config.streams))
        log(f"RSS with {config.streams} open streams: {results.open_rss_mb:.1f} MB")


def guarded(results: Results, names: list[str], measure: Callable[[], object]) -> None:
    """Run one measurement; a failure is recorded (for the rows ``names``) and the run goes on."""
    try:
        measure()
    except Exception as exc:  # noqa: BLE001 - reported in the table, and in the exit status
        record_failure(results, names, exc)


def record_failure(results: Results, names: list[str], exc: Exception) -> None:
    log(f"{', '.join(names)} FAILED: {exc}")
    for name in names:
        results.failures[name] = str(exc).strip() or type(exc).__name__


def measure(config: Config) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="dateline-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if ({"floor"} | DATELINE_GROUPS) & set(config.groups):
            measure_throughput(config, tmp, results)
        if "litellm" in config.groups:
            guarded(results, ["litellm"], lambda: measure_litellm(config, tmp, results))
        if "proxy" in config.groups:
            guarded(results, ["proxy"], lambda: measure_proxy(config, tmp, results))
        if "memory" in config.groups:
            guarded(results, ["memory"], lambda: measure_memory(config, tmp, results))
        if "batches" in config.groups:
            guarded(results, ["batches"], lambda: measure_batches(config, tmp, results))
    return results


def measure_proxy(config: Config, tmp: Path, results: Results) -> None:
    import proxy  # bench/proxy.py; it imports this module as `run`, as bench/batch.py does

    proxy.measure(config, tmp, results)


def measure_batches(config: Config, tmp: Path, results: Results) -> None:
    import batch  # bench/batch.py; it imports this module as `run` (see the end of this file)

    results.batches = batch.measure(config.batch_requests, workers=config.workers, tmp=tmp)
    failed = [f"{m.backend}: {m.failure}" for m in results.batches if m.failure]
    if failed:
        raise RuntimeError("\n".join(failed))


# --------------------------------------------------------------------------- report


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def check(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**pass**" if ok else "**MISS**")


@dataclass
class Row:
    measure: str
    figure: str = "–"
    p50: str = "–"
    p99: str = "–"
    vs_floor: str = "–"
    target: str = ""
    measured: str = ""
    result: str = ""

    def cells(self) -> list[str]:
        return [self.measure, self.figure, self.p50, self.p99, self.vs_floor, self.target, self.measured, self.result]


HEADER = ["measure", "figure", "p50", "p99", "× floor", "target", "measured", "result"]

ROW_NAMES = {
    "floor": "Floor: minimal Starlette app, fixed Message (requests/s)",
    "messages": "Dateline messages, non-streaming, max_tokens 16 (requests/s)",
    "messages_varied": "Dateline messages, non-streaming, every prompt different (requests/s)",
    "stream": "Dateline messages, streaming, max_tokens 50 (requests/s)",
    "events": "Dateline messages stream: events/s",
    "first_event": "Dateline messages stream: time to first event",
    "complete_new": "Dateline complete stream, 2023-06-01 (requests/s)",
    "complete_old": "Dateline complete stream, 2023-01-01 (requests/s)",
    "count_tokens": "Dateline count_tokens (requests/s)",
    "litellm": "LiteLLM proxy messages, mock_response (requests/s)",
    "idle_rss": "Dateline RSS, idle",
    "open_rss": "Dateline RSS, {n:,} open streams",
}


def load_row(name: str, load: Load | None, floor: Load | None, failure: str | None, title: str | None = None) -> Row:
    """A throughput row; ``title`` for a row not in ``ROW_NAMES``."""
    row = Row(title or ROW_NAMES[name])
    if load is None:
        row.figure = f"failed: {failure}" if failure else "not measured"
        return row
    row.figure = fmt_rps(load.rps) + (f" ({load.errors:,} errors)" if load.errors else "")
    row.p50, row.p99 = fmt_ms(load.p50_ms), fmt_ms(load.p99_ms)
    if floor is not None:
        row.vs_floor = f"{load.rps / floor.rps:.2f}×"
    return row


def build_rows(config: Config, results: Results) -> list[Row]:
    loads = results.loads
    floor = loads.get("floor")

    def failure(*groups: str) -> str | None:
        """The first line of the failure that left these rows empty, if any."""
        return next((results.failures[g].splitlines()[0] for g in groups if g in results.failures), None)

    def group_row(name: str, group: str) -> Row:
        return load_row(name, loads.get(name), floor, failure(group, "dateline"))

    rows: list[Row] = []
    if "floor" in config.groups:
        rows.append(load_row("floor", floor, floor, failure("floor")))
    if "messages" in config.groups:
        row = group_row("messages", "messages")
        messages = loads.get("messages")
        row.target = f"≥ {FLOOR_RATIO_MIN:.2f}× floor"
        if messages and floor:
            ratio = messages.rps / floor.rps
            row.measured, row.result = f"{ratio:.2f}× floor", check(ratio >= FLOOR_RATIO_MIN)
        else:
            row.result = check(None)
        rows.append(row)
        rows.append(group_row("messages_varied", "messages"))
    if "stream" in config.groups:
        rows.extend(stream_rows(results, floor, failure("stream", "dateline")))
    if "complete" in config.groups:
        rows.extend(complete_rows(results, floor, failure("complete", "dateline")))
    if "count_tokens" in config.groups:
        rows.append(group_row("count_tokens", "count_tokens"))
    if "litellm" in config.groups:
        rows.append(litellm_row(results, floor, failure("litellm")))
    if "proxy" in config.groups:
        import proxy

        rows.extend(proxy.rows(config, results, floor, failure("proxy"), failure("proxy", "proxy_litellm")))
    if "memory" in config.groups:
        rows.extend(memory_rows(config, results, failure("memory")))
    if "batches" in config.groups:
        import batch

        rows.extend(batch.rows(results.batches, config.batch_requests) or [Row(
            f"Dateline batch of {config.batch_requests:,}", f"failed: {failure('batches')}")])
    return rows


def stream_rows(results: Results, floor: Load | None, failure: str | None) -> list[Row]:
    stream = results.loads.get("stream")
    rows = [load_row("stream", stream, floor, failure)]
    events = Row(ROW_NAMES["events"])
    if stream and results.stream_events:
        events.figure = fmt_rps(stream.rps * results.stream_events)
        events.measured = f"{results.stream_events} events per stream"
    rows.append(events)
    first = Row(ROW_NAMES["first_event"])
    if results.first_event_ms:
        p50, p99, count = results.first_event_ms
        first.p50, first.p99 = fmt_ms(p50), fmt_ms(p99)
        first.measured = f"{count:,} streams"
    rows.append(first)
    return rows


def complete_rows(results: Results, floor: Load | None, failure: str | None) -> list[Row]:
    new, old = results.loads.get("complete_new"), results.loads.get("complete_old")
    old_row = load_row("complete_old", old, floor, failure)
    old_row.target = f"≤ {MIGRATION_SLOWDOWN_MAX:.0%} slower than 2023-06-01"
    if new and old:
        slowdown = 1 - old.rps / new.rps
        old_row.measured = f"{slowdown:.1%} slower" if slowdown >= 0 else f"{-slowdown:.1%} faster"
        old_row.result = check(slowdown <= MIGRATION_SLOWDOWN_MAX)
    else:
        old_row.result = check(None)
    return [load_row("complete_new", new, floor, failure), old_row]


def litellm_row(results: Results, floor: Load | None, failure: str | None) -> Row:
    litellm, dateline = results.loads.get("litellm"), results.loads.get("litellm_dateline")
    row = load_row("litellm", litellm, floor, failure)
    row.target = f"Dateline ≥ {LITELLM_RATIO_MIN:.0f}× LiteLLM"
    if litellm and dateline:
        ratio = dateline.rps / litellm.rps
        row.measured = f"Dateline {ratio:,.0f}× LiteLLM (Dateline {fmt_rps(dateline.rps)}/s alongside)"
        row.result = check(ratio >= LITELLM_RATIO_MIN)
    else:
        row.result = check(None)
    return row


def memory_rows(config: Config, results: Results, failure: str | None) -> list[Row]:
    idle = Row(ROW_NAMES["idle_rss"])
    held = Row(ROW_NAMES["open_rss"].format(n=config.streams))
    held.target = f"≤ {OPEN_STREAMS_RSS_MAX_MB:.0f} MB at {OPEN_STREAMS_TARGET:,} streams"
    if results.idle_rss_mb is None or results.open_rss_mb is None:
        idle.figure = held.figure = f"failed: {failure}" if failure else "not measured"
        held.result = check(None)
        return [idle, held]
    idle.figure = f"{results.idle_rss_mb:.1f} MB"
    held.figure = f"{results.open_rss_mb:.1f} MB"
    held.measured = f"+{results.open_rss_mb - results.idle_rss_mb:.1f} MB over idle"
    if config.streams >= OPEN_STREAMS_TARGET:
        held.result = check(results.open_rss_mb <= OPEN_STREAMS_RSS_MAX_MB)
    else:
        held.result = f"n/a ({config.streams} streams)"
    return [idle, held]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine_facts(config: Config, load_at_start: float) -> list[str]:
    wrk_version = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True).stdout.split(" [")[0].strip()
    facts = [
        f"- machine: nproc {os.cpu_count()}, {platform.system()} {platform.release()}, "
        f"load average {load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end",
        f"- python {platform.python_version()}, uvicorn {package_version('uvicorn')} (loop and http \"auto\": "
        f"uvloop {package_version('uvloop')}, httptools {package_version('httptools')}), "
        f"starlette {package_version('starlette')}, dateline {package_version('dateline')}, {wrk_version}",
    ]
    if "litellm" in config.groups and (LITELLM_VENV / "bin" / "python").exists():
        facts.append(f"- litellm {package_version('litellm', LITELLM_VENV / 'bin' / 'python')} "
                     "(own venv, 1 config model with `mock_response`, master key, local cost map)")
    warmup = f"after a {config.warmup} s warm-up" if config.warmup else "no warm-up"
    facts.append(f"- load: `wrk {' '.join(config.wrk_flags(config.duration))}` with `bench/lua/*.lua`, "
                 f"{warmup}, one row at a time; {config.workers} server worker(s) everywhere")
    facts.append("- compared pairs (floor and Dateline messages; the two complete versions; LiteLLM and "
                 "Dateline messages, measured again while LiteLLM runs) alternate "
                 "A B B A, each run half the duration; a row's p50 is its runs' mean, p99 the largest")
    if "stream" in config.groups:
        facts.append(f"- time to first event: httpx, {config.first_event_concurrency} concurrent streams "
                     f"for {config.first_event_seconds} s")
    if "proxy" in config.groups:
        import proxy

        facts.append(proxy.facts(config))
    if "memory" in config.groups:
        facts.append(f"- memory: VmRSS summed over the server's process tree, idle and with {config.streams:,} "
                     f"streams open (token delay {MEMORY_TOKEN_DELAY} s, max_tokens 200, each read to its "
                     "first event; largest of 5 samples)")
    if "batches" in config.groups:
        import batch

        facts.append(batch.facts(config.batch_requests, config.workers))
    facts.append("- the load generator and anything else running share the cores: compare ratios within "
                 "one run, not absolute figures across runs")
    return facts


def report(config: Config, results: Results, facts: list[str], started: datetime.datetime) -> str:
    elapsed = time.monotonic() - T0
    lines = [f"# Dateline benchmark, {started:%Y-%m-%d %H:%M} UTC", "", *facts, "",
             markdown_table(build_rows(config, results)), "", f"Run took {elapsed:.0f} s."]
    if results.failures:
        lines += ["", "## Failures"]
        for name, message in results.failures.items():
            lines += ["", f"{name}:", "```", message, "```"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- main


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, stopping the servers


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = os.getloadavg()[0]
    ensure_wrk()
    results = measure(config)
    facts = machine_facts(config, load_at_start)
    text = report(config, results, facts, started)
    write_atomically(config.output, text)
    print(text)
    log(f"written to {config.output}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.modules.setdefault("run", sys.modules[__name__])  # so `import run` in bench/batch.py, bench/proxy.py is this module
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: everything this run started has been stopped")
        sys.exit(130)
