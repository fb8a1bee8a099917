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
from pathlib import Path

import orjson
from load import MESSAGES, Load, Shape, Target, probe, wrk
from section import Config, Results, guarded
from servers import DATELINE_READY, Server, app_server, dateline_server, litellm_server, litellm_version, running
from table import Row, check, fmt_ms, litellm_row, load_row

# Targets.
ADDED_P50_MAX_MS = 1.0
ADDED_P99_MAX_MS = 3.0

CHAT = Shape.load("chat_completions", "/v1/chat/completions")

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


def dateline_proxy(tmp: Path, workers: int, upstream: Server) -> Server:
    server = dateline_server(tmp, workers)
    server.name = "dateline (openai upstream)"
    server.argv += ["--openai-upstream", f"{upstream.url}/v1", "--data-dir", str(tmp / "data-proxy")]
    return server


def litellm_proxy(tmp: Path, workers: int, upstream: Server) -> Server:
    server = litellm_server(tmp, workers, LITELLM_CONFIG.format(api_base=f"{upstream.url}/v1"))
    server.name = "litellm (openai upstream)"
    return server


def expect_message(server: Server) -> None:
    """One Messages request through ``server``: it must come back a Message, translated from the upstream's."""
    body = probe(server, MESSAGES)
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


def measure(config: Config, tmp: Path, results: Results) -> None:
    with contextlib.ExitStack() as servers:
        upstream = servers.enter_context(running(app_server("upstream", tmp, config.workers), "/v1/models", {},
                                                 timeout=60))
        dateline = servers.enter_context(running(dateline_proxy(tmp, config.workers, upstream), *DATELINE_READY,
                                                 timeout=60))
        expect_message(dateline)
        results.loads.update(wrk(config, Target("proxy_upstream", upstream, CHAT),
                                 Target("proxy_dateline", dateline, MESSAGES)))
        one = dataclasses.replace(config, connections=1)
        results.loads.update(wrk(one, Target("proxy_upstream_c1", upstream, CHAT),
                                 Target("proxy_dateline_c1", dateline, MESSAGES)))
        if config.litellm:
            guarded(results, ["proxy_litellm"], lambda: measure_litellm(config, tmp, results, upstream, dateline))


def measure_litellm(config: Config, tmp: Path, results: Results, upstream: Server,
                    dateline: Server) -> None:
    """LiteLLM alternating with Dateline, both in front of the same upstream."""
    with running(litellm_proxy(tmp, config.workers, upstream), "/health/readiness", {}, timeout=180) as litellm:
        expect_message(litellm)
        results.loads.update(wrk(config, Target("proxy_litellm_dateline", dateline, MESSAGES),
                                 Target("proxy_litellm", litellm, MESSAGES)))


# --------------------------------------------------------------------------- report


def fmt_added(ms: float) -> str:
    return ("+" if ms >= 0 else "−") + fmt_ms(abs(ms))


def added_ms(results: Results, proxied: str, alone: str) -> tuple[float, float] | None:
    """Dateline's p50 and p99 minus the upstream's, measured at the same load."""
    a, b = results.loads.get(proxied), results.loads.get(alone)
    return (a.p50_ms - b.p50_ms, a.p99_ms - b.p99_ms) if a and b else None


def rows(config: Config, results: Results, floor: Load | None, failure: str | None,
         litellm_failure: str | None) -> list[Row]:
    loads = results.loads
    not_measured = f"failed: {failure}" if failure else "not measured"

    def proxy_row(key: str, alone: str | None = None) -> Row:
        row = load_row(TITLES[key], loads.get(key), floor, failure)
        if loads.get(key) and loads.get(alone):
            row.measured = f"{loads[key].rps / loads[alone].rps:.2f}× upstream alone"
        return row

    table = [proxy_row("proxy_upstream"), proxy_row("proxy_dateline", "proxy_upstream"),
             proxy_row("proxy_upstream_c1"), proxy_row("proxy_dateline_c1", "proxy_upstream_c1")]

    c1 = added_ms(results, "proxy_dateline_c1", "proxy_upstream_c1")
    for key, column, limit in (("added_c1_p50", "p50", ADDED_P50_MAX_MS), ("added_c1_p99", "p99", ADDED_P99_MAX_MS)):
        row = Row(TITLES[key], target=f"≤ +{limit:g} ms")
        if c1 is None:
            row.figure, row.result = not_measured, check(None)
        else:
            added = c1[0] if column == "p50" else c1[1]
            setattr(row, column, fmt_added(added))
            row.measured, row.result = fmt_added(added), check(added <= limit)
        table.append(row)

    c32 = added_ms(results, "proxy_dateline", "proxy_upstream")
    row = Row(TITLES["added_c32"], measured="for information")
    if c32 is None:
        row.figure = not_measured
    else:
        row.p50, row.p99 = fmt_added(c32[0]), fmt_added(c32[1])
    table.append(row)

    if config.litellm:
        table.append(litellm_row(TITLES["proxy_litellm"], loads.get("proxy_litellm"),
                                 loads.get("proxy_litellm_dateline"), floor, litellm_failure))
    return table


def facts(config: Config) -> str:
    fact = ("- proxy: `bench/upstream.py` (raw ASGI on uvicorn, one fixed `chat.completion`) alone "
            "(`lua/chat_completions.lua`), and `dateline serve --openai-upstream` in front of it (temp data dir; "
            "`lua/messages.lua`), alternating A B B A at 32 connections, then again with `wrk -t1 -c1`; "
            "added latency is Dateline's p50 and p99 minus the upstream's at the same load")
    if config.litellm:
        installed = litellm_version()
        version = f"litellm {installed}" if installed else "litellm"
        fact += (f"; {version} translating to the same upstream (model `openai/claude-sonnet-4-5`, "
                 "`use_chat_completions_url_for_anthropic_messages: true`), alternating with Dateline at 32 "
                 "connections")
    return fact
