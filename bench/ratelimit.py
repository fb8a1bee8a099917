#!/usr/bin/env python
"""Rate-limit benchmark: ``python bench/ratelimit.py``.

What holding a key to its limits costs: the built-in model's non-streaming Messages
(``lua/messages.lua``) on one ``dateline serve --redis-url`` process, sent with a key
whose limits are on Redis (requests, input and output tokens per minute, set far above
what the run sends, so that none is refused) against the same requests with a stored key
without limits, alternating A B B A, three times over (``--rounds``): the median round's
ratio is reported. Each limited request costs two Redis round trips
(admission, then the charge of its output). Target: at least 0.8× the unlimited rate.

A temporary redis-server (``redis-server`` must be installed) and the server are
started on free loopback ports and always stopped. Progress goes to stderr, the
figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from load import MESSAGES, Target, ensure_wrk
from load import rounds as load_rounds
from section import Config
from servers import API_KEY, DATELINE_READY, dateline_server, free_port, run_script, running

TARGET = 0.8
#: Comparisons made (A B B A each); the median round's ratio is reported, as a burst of
#: load from elsewhere on a shared machine can sink one round.
ROUNDS = 3
#: Far above what one process answers in a minute: every request is let in, and pays for the limiter.
PER_MINUTE = 1_000_000_000


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (tmp / "redis.log").open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_key(url: str, **settings: object) -> str:
    """A stored key (once there is one, only stored keys are accepted): its secret."""
    made = httpx.post(f"{url}/_dateline/keys", json={"name": "bench", **settings}, timeout=30)
    made.raise_for_status()
    return made.json()["secret"]


def limited_shape(tmp: Path, name: str, secret: str):
    """``lua/messages.lua`` sent with ``secret`` in place of the bench's key."""
    script = tmp / f"messages_{name}.lua"
    script.write_text(MESSAGES.script.read_text().replace(API_KEY, secret))
    return dataclasses.replace(MESSAGES, script=script, headers={**MESSAGES.headers, "x-api-key": secret})


def measure(config: Config, *, redis: bool = True, rounds: int = 1) -> tuple[float, float, list[float]]:
    """The median round's (unlimited, limited) requests/s, and every round's ratio."""
    with tempfile.TemporaryDirectory(prefix="dateline-bench-ratelimit-") as name:
        tmp = Path(name)
        with redis_server(tmp) as url:
            server = dateline_server(tmp, config.workers)
            server.argv += ["--data-dir", str(tmp / "data"), *(["--redis-url", url] if redis else [])]
            with running(server, *DATELINE_READY, timeout=60):
                limits = {f"{kind}_per_minute": PER_MINUTE for kind in ("requests", "input_tokens", "output_tokens")}
                limited = limited_shape(tmp, "limited", make_key(server.url, rate_limits=limits))
                plain = limited_shape(tmp, "plain", make_key(server.url))
                loads, ratios = load_rounds(config, rounds, Target("unlimited", server, plain), Target("limited", server, limited))
    return loads["unlimited"].rps, loads["limited"].rps, ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Throughput with a limited key on Redis against none.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per side (default 10)")
    parser.add_argument("--memory", action="store_true", help="the in-process limiter instead of Redis")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"comparisons, A B B A each (default {ROUNDS})")
    args = parser.parse_args(argv)
    ensure_wrk()
    config = Config(duration=args.duration, workers=args.workers)
    unlimited, limited, ratios = measure(config, redis=not args.memory, rounds=args.rounds)
    ratio = limited / unlimited if unlimited else 0.0
    print("| run | requests/s |\n|---|---|")
    where = "in memory" if args.memory else "on Redis"
    print(f"| no limits | {unlimited:,.0f} |\n| limited key, limiter {where} | {limited:,.0f} |")
    verdict = "met" if ratio >= TARGET else "missed"
    each = ", ".join(f"{r:.2f}×" for r in ratios)
    print(f"\nlimited / unlimited: {ratio:.2f}× (median round of {each}; target ≥ {TARGET}×: {verdict})")
    return 0


if __name__ == "__main__":
    run_script(main)
