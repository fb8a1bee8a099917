"""The full run's report: the facts of the machine and the load, then one
table of every section measured, each figure set against the floor and the
targets checked beside it."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from pathlib import Path

import batch
import chat
import observe
import proxy
from load import Load, ensure_wrk
from progress import T0
from section import OPEN_STREAMS_TARGET, Config, Results
from servers import litellm_version, package_version
from streams import MEMORY_TOKEN_DELAY
from table import Row, check, fmt_ms, fmt_rps, litellm_row, load_row, markdown_table

# Targets.
FLOOR_RATIO_MIN = 0.8
MIGRATION_SLOWDOWN_MAX = 0.10
#: The head version's rules may not make its requests slower than an older version's.
HEAD_RATIO_MIN = 0.95
OPEN_STREAMS_RSS_MAX_MB = 150.0

ROW_NAMES = {
    "floor": "Floor: minimal Starlette app, fixed Message (requests/s)",
    "messages": "Dateline messages, non-streaming, max_tokens 16 (requests/s)",
    "messages_varied": "Dateline messages, non-streaming, every prompt different (requests/s)",
    "messages_varied_2026": "Dateline messages, every prompt different, 2026-10-21 (requests/s)",
    "messages_2023": "Dateline messages, max_tokens 16, 2023-06-01, against 2026-10-21 (requests/s)",
    "messages_2026": "Dateline messages, max_tokens 16, 2026-10-21 (requests/s)",
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


def named_row(name: str, load: Load | None, floor: Load | None, failure: str | None) -> Row:
    return load_row(ROW_NAMES[name], load, floor, failure)


def build_rows(config: Config, results: Results) -> list[Row]:
    loads = results.loads
    floor = loads.get("floor")

    def failure(*groups: str) -> str | None:
        """The first line of the failure that left these rows empty, if any."""
        return next((results.failures[g].splitlines()[0] for g in groups if g in results.failures), None)

    def group_row(name: str, group: str) -> Row:
        return named_row(name, loads.get(name), floor, failure(group, "dateline"))

    rows: list[Row] = []
    if "floor" in config.groups:
        rows.append(named_row("floor", floor, floor, failure("floor")))
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
        rows.append(version_row(loads, "messages_varied_2026", "messages_varied", group_row))
        rows.append(group_row("messages_2023", "messages"))
        rows.append(version_row(loads, "messages_2026", "messages_2023", group_row))
    if "stream" in config.groups:
        rows.extend(stream_rows(results, floor, failure("stream", "dateline")))
    if "complete" in config.groups:
        rows.extend(complete_rows(results, floor, failure("complete", "dateline")))
    if "count_tokens" in config.groups:
        rows.append(group_row("count_tokens", "count_tokens"))
    if "litellm" in config.groups:
        rows.append(litellm_row(ROW_NAMES["litellm"], loads.get("litellm"), loads.get("litellm_dateline"), floor,
                                failure("litellm")))
    if "proxy" in config.groups:
        rows.extend(proxy.rows(config, results, floor, failure("proxy"), failure("proxy", "proxy_litellm")))
    if "chat" in config.groups:
        rows.extend(chat.rows(config, results, floor, failure("chat"), failure("chat", "chat_proxy_litellm")))
    if "memory" in config.groups:
        rows.extend(memory_rows(config, results, failure("memory")))
    if "batches" in config.groups:
        rows.extend(batch.rows(results.batches, config.batch_requests) or [Row(
            f"Dateline batch of {config.batch_requests:,}", f"failed: {failure('batches')}")])
    if "observe" in config.groups:
        rows.extend(observe.rows(results, floor, failure("observe")))
    return rows


def version_row(loads: dict[str, Load], name: str, baseline: str, group_row) -> Row:
    """The head version's row, against the same requests under 2023-06-01 in the same run."""
    row = group_row(name, "messages")
    head, old = loads.get(name), loads.get(baseline)
    row.target = f"≥ {HEAD_RATIO_MIN:.2f}× 2023-06-01"
    if head and old:
        ratio = head.rps / old.rps
        row.measured, row.result = f"{ratio:.2f}× 2023-06-01", check(ratio >= HEAD_RATIO_MIN)
    else:
        row.result = check(None)
    return row


def stream_rows(results: Results, floor: Load | None, failure: str | None) -> list[Row]:
    stream = results.loads.get("stream")
    rows = [named_row("stream", stream, floor, failure)]
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
    old_row = named_row("complete_old", old, floor, failure)
    old_row.target = f"≤ {MIGRATION_SLOWDOWN_MAX:.0%} slower than 2023-06-01"
    if new and old:
        slowdown = 1 - old.rps / new.rps
        old_row.measured = f"{slowdown:.1%} slower" if slowdown >= 0 else f"{-slowdown:.1%} faster"
        old_row.result = check(slowdown <= MIGRATION_SLOWDOWN_MAX)
    else:
        old_row.result = check(None)
    return [named_row("complete_new", new, floor, failure), old_row]


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


def machine_facts(config: Config, load_at_start: float) -> list[str]:
    wrk_version = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True).stdout.split(" [")[0].strip()
    facts = [
        f"- machine: nproc {os.cpu_count()}, {platform.system()} {platform.release()}, "
        f"load average {load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end",
        f"- python {platform.python_version()}, uvicorn {package_version('uvicorn')} (loop and http \"auto\": "
        f"uvloop {package_version('uvloop')}, httptools {package_version('httptools')}), "
        f"starlette {package_version('starlette')}, dateline {package_version('dateline')}, {wrk_version}",
    ]
    if "litellm" in config.groups and (litellm := litellm_version()) is not None:
        facts.append(f"- litellm {litellm} "
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
        facts.append(proxy.facts(config))
    if "chat" in config.groups:
        facts.append(chat.facts(config))
    if "memory" in config.groups:
        facts.append(f"- memory: VmRSS summed over the server's process tree, idle and with {config.streams:,} "
                     f"streams open (token delay {MEMORY_TOKEN_DELAY} s, max_tokens 200, each read to its "
                     "first event; largest of 5 samples)")
    if "batches" in config.groups:
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
