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
  requests sent one by one (``bench/batch.py``);
- the built-in model with metrics and JSON request logs on against off
  (``bench/observe.py``).

Throughput rows use ``wrk`` (installed with apt-get when missing) with the Lua
scripts in ``bench/lua``. Everything is started on free loopback ports and
always stopped again. The markdown table goes to stdout and to
``bench/results/latest.md``; progress goes to stderr.

This module is the order of the run. What the bench scripts share is beside
it: ``servers.py`` (the processes), ``load.py`` (wrk and the request shapes),
``streams.py`` (the streaming clients), ``section.py`` (the run's settings and
results), ``table.py`` (the table's rows); ``report.py`` writes the run's
report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import batch
import chat
import observe
import proxy
from load import (
    COMPLETE_NEW,
    COMPLETE_OLD,
    COUNT_TOKENS,
    MESSAGES,
    MESSAGES_2026,
    MESSAGES_STREAM,
    MESSAGES_VARIED,
    MESSAGES_VARIED_2026,
    Target,
    count_events,
    ensure_wrk,
    probe,
    wrk,
)
from progress import log
from report import machine_facts, report, write_atomically
from section import DEFAULT_OUTPUT, GROUPS, Config, Results, guarded, record_failure
from servers import DATELINE_READY, Server, app_server, dateline_server, litellm_server, run_script, running
from streams import MEMORY_TOKEN_DELAY, first_event_times, hold_open_streams, percentile, raise_fd_limit

DATELINE_GROUPS = {"messages", "stream", "complete", "count_tokens"}


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


# --------------------------------------------------------------------------- measurements


def measure_throughput(config: Config, tmp: Path, results: Results) -> None:
    """The floor and Dateline's rows, both servers up together so that the
    floor and Dateline's Messages row can alternate."""
    groups = set(config.groups)
    with contextlib.ExitStack() as servers:
        floor = dateline = None
        if "floor" in groups:
            floor = start(servers, results, "floor", app_server("floor", tmp, config.workers), "/", {})
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
            # The same requests under 2023-06-01 and 2026-10-21, alternated: what each version's path costs.
            varied = Target("messages_varied", dateline, MESSAGES_VARIED), Target(
                "messages_varied_2026", dateline, MESSAGES_VARIED_2026)
            guarded(results, ["messages"], lambda: results.loads.update(wrk(config, *varied)))
            fixed = Target("messages_2023", dateline, MESSAGES), Target("messages_2026", dateline, MESSAGES_2026)
            guarded(results, ["messages"], lambda: results.loads.update(wrk(config, *fixed)))
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


def measure_batches(config: Config, tmp: Path, results: Results) -> None:
    results.batches = batch.measure(config.batch_requests, workers=config.workers, tmp=tmp)
    failed = [f"{m.backend}: {m.failure}" for m in results.batches if m.failure]
    if failed:
        raise RuntimeError("\n".join(failed))


def measure(config: Config) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="dateline-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if ({"floor"} | DATELINE_GROUPS) & set(config.groups):
            measure_throughput(config, tmp, results)
        if "litellm" in config.groups:
            guarded(results, ["litellm"], lambda: measure_litellm(config, tmp, results))
        if "proxy" in config.groups:
            guarded(results, ["proxy"], lambda: proxy.measure(config, tmp, results))
        if "chat" in config.groups:
            guarded(results, ["chat"], lambda: chat.measure(config, tmp, results))
        if "memory" in config.groups:
            guarded(results, ["memory"], lambda: measure_memory(config, tmp, results))
        if "batches" in config.groups:
            guarded(results, ["batches"], lambda: measure_batches(config, tmp, results))
        if "observe" in config.groups:
            rounds = 1 if config.warmup == 0 else observe.ROUNDS  # --quick: one round
            sliced = replace(config, duration=min(config.duration, observe.DURATION))
            guarded(results, ["observe"], lambda: observe.measure(sliced, tmp, results, rounds))
    return results


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
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
    run_script(main)
