"""The "chat" section of ``bench/run.py``: ``POST /v1/chat/completions``.

- On the built-in model, the OpenAI shape (``lua/chat.lua``) against the same conversation as a
  Messages request (``lua/messages.lua``) on one Dateline, alternating: what the translation
  costs. Target: ≥ 0.9× ``/v1/messages``.
- In front of the fixed OpenAI-compatible upstream (``bench/upstream.py``, as in the proxy
  section): Dateline's ``/v1/chat/completions`` (``dateline serve --openai-upstream``) alternating
  with LiteLLM's ``/v1/chat/completions`` routed to the same upstream. Skipped with ``--no-litellm``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import orjson
from load import MESSAGES, Load, Shape, Target, probe, wrk
from proxy import dateline_proxy, litellm_proxy
from section import Config, Results, guarded
from servers import DATELINE_READY, Server, app_server, dateline_server, litellm_version, running
from table import Row, check, load_row

CHAT_RATIO_MIN = 0.9

CHAT = Shape.load("chat", "/v1/chat/completions")

TITLES = {
    "chat_messages": "Dateline messages, max_tokens 16, beside chat (requests/s)",
    "chat": "Dateline chat completions, max_tokens 16 (requests/s)",
    "chat_proxy_dateline": "Dateline → OpenAI upstream, chat completions, 32 connections (requests/s)",
    "chat_proxy_litellm": "LiteLLM → OpenAI upstream, chat completions, 32 connections (requests/s)",
}


def expect_completion(server: Server) -> None:
    """One chat completion through ``server``: it must come back a ``chat.completion`` with text."""
    body = probe(server, CHAT)
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not choices or answer.get("object") != "chat.completion" or not choices[0]["message"].get("content"):
        raise RuntimeError(f"{server.name} answered something other than a chat.completion: {body[:300]!r}")


def measure(config: Config, tmp: Path, results: Results) -> None:
    with running(dateline_server(tmp, config.workers), *DATELINE_READY, timeout=60) as dateline:
        expect_completion(dateline)
        results.loads.update(wrk(config, Target("chat_messages", dateline, MESSAGES), Target("chat", dateline, CHAT)))
    if config.litellm:
        guarded(results, ["chat_proxy_litellm"], lambda: measure_litellm(config, tmp, results))


def measure_litellm(config: Config, tmp: Path, results: Results) -> None:
    """Dateline and LiteLLM in front of the same fixed upstream, alternating, both asked in OpenAI's shape."""
    with contextlib.ExitStack() as servers:
        upstream = servers.enter_context(running(app_server("upstream", tmp, config.workers), "/v1/models", {},
                                                 timeout=60))
        dateline = servers.enter_context(running(dateline_proxy(tmp, config.workers, upstream), *DATELINE_READY,
                                                 timeout=60))
        expect_completion(dateline)
        litellm = servers.enter_context(running(litellm_proxy(tmp, config.workers, upstream), "/health/readiness",
                                                {}, timeout=180))
        expect_completion(litellm)
        results.loads.update(wrk(config, Target("chat_proxy_dateline", dateline, CHAT),
                                 Target("chat_proxy_litellm", litellm, CHAT)))


def rows(config: Config, results: Results, floor: Load | None, failure: str | None,
         litellm_failure: str | None) -> list[Row]:
    loads = results.loads
    table = [load_row(TITLES["chat_messages"], loads.get("chat_messages"), floor, failure)]
    chat, messages = loads.get("chat"), loads.get("chat_messages")
    row = load_row(TITLES["chat"], chat, floor, failure)
    row.target = f"≥ {CHAT_RATIO_MIN:.1f}× messages"
    if chat and messages:
        ratio = chat.rps / messages.rps
        row.measured, row.result = f"{ratio:.2f}× messages", check(ratio >= CHAT_RATIO_MIN)
    else:
        row.result = check(None)
    table.append(row)
    if config.litellm:
        dateline, litellm = loads.get("chat_proxy_dateline"), loads.get("chat_proxy_litellm")
        table.append(load_row(TITLES["chat_proxy_dateline"], dateline, floor, litellm_failure))
        row = load_row(TITLES["chat_proxy_litellm"], litellm, floor, litellm_failure)
        if dateline and litellm:
            row.measured = f"Dateline {dateline.rps / litellm.rps:.2f}× LiteLLM"
        table.append(row)
    return table


def facts(config: Config) -> str:
    fact = ("- chat: one Dateline (built-in model), `lua/messages.lua` and `lua/chat.lua` (the same conversation "
            "as a chat completion, Bearer auth) alternating A B B A")
    if config.litellm:
        installed = litellm_version()
        version = f"litellm {installed}" if installed else "litellm"
        fact += (f"; `lua/chat.lua` to `dateline serve --openai-upstream` and to {version} (model "
                 "`openai/claude-sonnet-4-5`), both in front of `bench/upstream.py`, alternating")
    return fact
