"""Load generation with ``wrk``: the request shapes in ``lua/``, a probe that
each must pass before it is put under load, and the rows of load that
alternate A B B A when two targets are compared."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from progress import log
from section import Config
from servers import Server

LUA = Path(__file__).resolve().parent / "lua"


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
MESSAGES_2026 = Shape.load("messages_2026_10_21", "/v1/messages")
MESSAGES_VARIED_2026 = Shape.load("messages_varied_2026_10_21", "/v1/messages")
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


def rounds(config: Config, count: int, base: Target, other: Target) -> tuple[dict[str, Load], list[float]]:
    """``wrk`` on the pair ``count`` times over (A B B A each time): the median round's loads,
    and every round's ratio other ÷ base (a burst of load from elsewhere on a shared machine
    can sink one round, not the median)."""
    # Warmed up once: each later round follows straight on from the one before.
    runs = [wrk(config if i == 0 else replace(config, warmup=0), base, other) for i in range(max(1, count))]
    ratios = [run[other.key].rps / run[base.key].rps if run[base.key].rps else 0.0 for run in runs]
    log(f"{other.key} ÷ {base.key} by round: " + ", ".join(f"{r:.2f}×" for r in ratios))
    median = sorted(range(len(runs)), key=lambda i: ratios[i])[len(runs) // 2]
    return runs[median], ratios


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
