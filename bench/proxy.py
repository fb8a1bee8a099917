"""The "proxy" section of ``bench/run.py``: Dateline in front of an
OpenAI-compatible upstream (``dateline serve --openai-upstream``).

The upstream is ``bench/upstream.py``, a raw ASGI app on uvicorn that answers
every chat completion with the same reply, so that nearly all the time a
request spends beyond the upstream alone is Dateline's: reading the Messages
request, translating it, the round trip to the upstream over loopback, and
translating the answer back. In one run:

- the upstream alone (``lua/chat_completions.lua``: the body Dateline sends it
  for ``lua/messages.lua``) and Dateline in front of it (``lua/messages.lua``),
  alternating, at the usual 32 connections and again at 1 connection;
- the latency Dateline adds: its p50 and p99 minus the upstream's. The figure
  that counts is at 1 connection, where no request waits behind another; at
  32 connections queueing dominates and the difference is for information;
- LiteLLM's ``/v1/messages`` translating to the same upstream (an ``openai/``
  model, ``use_chat_completions_url_for_anthropic_messages``), alternating with
  Dateline at 32 connections. Skipped with ``--no-litellm``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import run as harness  # noqa: E402 - the harness's servers, wrk, logging and table rows

# Targets.
ADDED_P50_MAX_MS = 1.0
ADDED_P99_MAX_MS = 3.0
LITELLM_RATIO_MIN = harness.LITELLM_RATIO_MIN

CHAT = harness.Shape.load("chat_completions", "/v1/chat/completions")

LITELLM_CONFIG = """\
model_list:
  - model_name: claude-sonnet-4-5
    litellm_params:
      model: openai/claude-sonnet-4-5
      api_base: {api_base}
      api_key: sk-unused
litellm_settings:
  use_chat_completions_url_for_anthropic_messages: true
"""

TITLES = {
    "proxy_upstream": "Upstream alone: fixed-reply OpenAI chat completions, 32 connections (requests/s)",
    "proxy_dateline": "Dateline → OpenAI upstream, messages, non-streaming, 32 connections (requests/s)",
    "proxy_upstream_c1": "Upstream alone, 1 connection (requests/s)",
    "proxy_dateline_c1": "Dateline → OpenAI upstream, 1 connection (requests/s)",
    "added_c1_p50": "Dateline → OpenAI upstream: added p50, 1 connection",
    "added_c1_p99": "Dateline → OpenAI upstream: added p99, 1 connection",
    "added_c32": "Dateline → OpenAI upstream: added latency, 32 connections (queueing included)",
    "proxy_litellm": "LiteLLM → OpenAI upstream, messages, translating, 32 connections (requests/s)",
}


# --------------------------------------------------------------------------- servers


def upstream_server(tmp: Path, workers: int) -> harness.Server:
    port = harness.free_port()
    argv = [sys.executable, str(HERE / "upstream.py"), "--port", str(port), "--workers", str(workers)]
    return harness.Server("upstream", argv, port, tmp / f"upstream-{port}.log")


def dateline_proxy(tmp: Path, workers: int, upstream: harness.Server) -> harness.Server:
    server = harness.dateline_server(tmp, workers)
    server.name = "dateline (openai upstream)"
    server.argv += ["--openai-upstream", f"{upstream.url}/v1", "--data-dir", str(tmp / "data-proxy")]
    return server


def litellm_proxy(tmp: Path, workers: int, upstream: harness.Server) -> harness.Server:
    server = harness.litellm_server(tmp, workers, LITELLM_CONFIG.format(api_base=f"{upstream.url}/v1"))
    server.name = "litellm (openai upstream)"
    return server


def expect_message(server: harness.Server) -> None:
    """One Messages request through ``server``: it must come back a Message, translated from the upstream's."""
    body = harness.probe(server, harness.MESSAGES)
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        message = {}
    if not isinstance(message, dict):
        message = {}
    texts = [block.get("text") for block in message.get("content") or () if isinstance(block, dict)]
    if message.get("type") != "message" or not any(texts):
        raise RuntimeError(f"{server.name} answered something other than a Message: {body[:300]!r}")


# --------------------------------------------------------------------------- measurement


def measure(config: harness.Config, tmp: Path, results: harness.Results) -> None:
    with contextlib.ExitStack() as servers:
        upstream = servers.enter_context(harness.running(upstream_server(tmp, config.workers), "/v1/models", {},
                                                         timeout=60))
        dateline = servers.enter_context(harness.running(dateline_proxy(tmp, config.workers, upstream),
                                                         *harness.DATELINE_READY, timeout=60))
        expect_message(dateline)
        results.loads.update(harness.wrk(config, harness.Target("proxy_upstream", upstream, CHAT),
                                         harness.Target("proxy_dateline", dateline, harness.MESSAGES)))
        one = dataclasses.replace(config, connections=1)
        results.loads.update(harness.wrk(one, harness.Target("proxy_upstream_c1", upstream, CHAT),
                                         harness.Target("proxy_dateline_c1", dateline, harness.MESSAGES)))
        if config.litellm:
            harness.guarded(results, ["proxy_litellm"], lambda: measure_litellm(config, tmp, results, upstream,
                                                                                dateline))


def measure_litellm(config: harness.Config, tmp: Path, results: harness.Results, upstream: harness.Server,
                    dateline: harness.Server) -> None:
    """LiteLLM alternating with Dateline, both in front of the same upstream."""
    with harness.running(litellm_proxy(tmp, config.workers, upstream), "/health/readiness", {}, timeout=180) as litellm:
        expect_message(litellm)
        results.loads.update(harness.wrk(config, harness.Target("proxy_litellm_dateline", dateline, harness.MESSAGES),
                                         harness.Target("proxy_litellm", litellm, harness.MESSAGES)))


# --------------------------------------------------------------------------- report


def fmt_added(ms: float) -> str:
    return ("+" if ms >= 0 else "−") + harness.fmt_ms(abs(ms))


def added_ms(results: harness.Results, proxied: str, alone: str) -> tuple[float, float] | None:
    """Dateline's p50 and p99 minus the upstream's, measured at the same load."""
    a, b = results.loads.get(proxied), results.loads.get(alone)
    return (a.p50_ms - b.p50_ms, a.p99_ms - b.p99_ms) if a and b else None


def rows(config: harness.Config, results: harness.Results, floor: harness.Load | None, failure: str | None,
         litellm_failure: str | None) -> list[harness.Row]:
    loads = results.loads
    not_measured = f"failed: {failure}" if failure else "not measured"

    def load_row(key: str, alone: str | None = None) -> harness.Row:
        row = harness.load_row(key, loads.get(key), floor, failure, title=TITLES[key])
        if loads.get(key) and loads.get(alone):
            row.measured = f"{loads[key].rps / loads[alone].rps:.2f}× upstream alone"
        return row

    table = [load_row("proxy_upstream"), load_row("proxy_dateline", "proxy_upstream"),
             load_row("proxy_upstream_c1"), load_row("proxy_dateline_c1", "proxy_upstream_c1")]

    c1 = added_ms(results, "proxy_dateline_c1", "proxy_upstream_c1")
    for key, column, limit in (("added_c1_p50", "p50", ADDED_P50_MAX_MS), ("added_c1_p99", "p99", ADDED_P99_MAX_MS)):
        row = harness.Row(TITLES[key], target=f"≤ +{limit:g} ms")
        if c1 is None:
            row.figure, row.result = not_measured, harness.check(None)
        else:
            added = c1[0] if column == "p50" else c1[1]
            setattr(row, column, fmt_added(added))
            row.measured, row.result = fmt_added(added), harness.check(added <= limit)
        table.append(row)

    c32 = added_ms(results, "proxy_dateline", "proxy_upstream")
    row = harness.Row(TITLES["added_c32"], measured="for information")
    if c32 is None:
        row.figure = not_measured
    else:
        row.p50, row.p99 = fmt_added(c32[0]), fmt_added(c32[1])
    table.append(row)

    if config.litellm:
        litellm, dateline = loads.get("proxy_litellm"), loads.get("proxy_litellm_dateline")
        row = harness.load_row("proxy_litellm", litellm, floor, litellm_failure, title=TITLES["proxy_litellm"])
        row.target = f"Dateline ≥ {LITELLM_RATIO_MIN:.0f}× LiteLLM"
        if litellm and dateline:
            ratio = dateline.rps / litellm.rps
            row.measured = f"Dateline {ratio:,.0f}× LiteLLM (Dateline {harness.fmt_rps(dateline.rps)}/s alongside)"
            row.result = harness.check(ratio >= LITELLM_RATIO_MIN)
        else:
            row.result = harness.check(None)
        table.append(row)
    return table


def facts(config: harness.Config) -> str:
    fact = ("- proxy: `bench/upstream.py` (raw ASGI on uvicorn, one fixed `chat.completion`) alone "
            "(`lua/chat_completions.lua`), and `dateline serve --openai-upstream` in front of it (temp data dir; "
            "`lua/messages.lua`), alternating A B B A at 32 connections, then again with `wrk -t1 -c1`; "
            "added latency is Dateline's p50 and p99 minus the upstream's at the same load")
    if config.litellm:
        version = "litellm"
        if (harness.LITELLM_VENV / "bin" / "python").exists():
            version += " " + harness.package_version("litellm", harness.LITELLM_VENV / "bin" / "python")
        fact += (f"; {version} translating to the same upstream (model `openai/claude-sonnet-4-5`, "
                 "`use_chat_completions_url_for_anthropic_messages: true`), alternating with Dateline at 32 "
                 "connections")
    return fact
