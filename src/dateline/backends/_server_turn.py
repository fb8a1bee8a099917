"""The built-in model's turn with server tools: its calls, their results, and the answer they give.

Which calls a message asks for is ``_server_plan``'s. Each call is a
``server_tool_use`` block followed, in the same answer, by its result block;
then the model answers with text citing what it found (web search citations
always; a fetched document's when the tool enables citations), or, after a
tool search, calls the first tool found.

- ``max_uses`` counts a tool's calls within one request: a call past it still
  appears, its result ``max_uses_exceeded``.
- At most ``MAX_ITERATIONS`` calls per answer: past them the answer stops with
  ``pause_turn`` after the last result. The client sends the answer back as
  the final assistant message (same tools) and the next answer goes on where
  it stopped, beginning with the result of a call it ended on, if any.
- A call the previous answer left unrun beside client tool calls (the client
  answered those) is run first; the model's own reply follows.
- ``usage.server_tool_use`` counts the searches that ran (an error result is
  not one) and the fetches tried, failed ones included; neither counts a call
  past ``max_uses``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from .. import web_corpus
from .._content import blocks
from ..ids import new_id
from ..thinking import Signer
from . import _prose, _structured, _web
from ._server_answer import Outcome, Writer, count_documents, fetched_document, outcome_of, write_web_answer
from ._server_plan import Step, offered, plan, user_text
from ._server_tools import ToolError, server_tool_use
from ._tool_input import generate_tool_input
from ._tool_search import TOOL_SEARCH_TYPES, error_block, result_block, search_tools
from ._turn import Block

MAX_ITERATIONS = 10


@dataclass
class Served:
    """What the server tools add to a turn; with no ``stop_reason`` the model's own reply follows."""

    blocks: list[Block]
    stop_reason: str | None
    stop_sequence: str | None = None
    output_tokens: int = 0


def memo_key(request: dict[str, Any]) -> str | None:
    """What shapes a reply beyond the request: with a web tool offered, the corpus in use."""
    if not ({"web_search", "web_fetch"} & offered(request).keys()):
        return None
    corpus = web_corpus.serving()
    return corpus.digest.hex() if corpus is not None else "builtin"


def usage(turn_blocks: list[Block]) -> dict[str, int] | None:
    """``usage.server_tool_use`` of a turn: None unless a server tool ran."""
    raws = [b.raw for b in turn_blocks if b.raw is not None and b.raw.get("type") != "text"]
    if not raws:
        return None
    searches = fetches = 0
    for raw in raws:
        content = raw.get("content")
        error = content.get("error_code") if isinstance(content, dict) else None
        if raw["type"] == "web_search_tool_result":
            searches += error is None
        elif raw["type"] == "web_fetch_tool_result":
            fetches += error != "max_uses_exceeded"
    return {"web_search_requests": searches, "web_fetch_requests": fetches}


def serve(
    request: dict[str, Any], rng: random.Random, *, signer: Signer, budget: int, full: str = "max_tokens"
) -> Served | None:
    """The server-tool part of the built-in model's turn, or None when it calls no server tool.

    ``budget``: the output tokens left; ``full``: the stop reason when they run out.
    """
    tools = offered(request)
    if not tools:
        return None
    messages = [m for m in request["messages"] if m.get("role") != "system"]
    last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), None)
    if last_user is None:
        return None
    trailing = [b for m in messages[last_user + 1 :] for b in blocks(m.get("content"))]
    if trailing and trailing[-1].get("type") == "text":
        return None  # a prefill: the model goes on with its own words
    unrun = [] if trailing else _left_beside_client_calls(messages, last_user)
    steps = [] if unrun else plan(request, tools, messages[last_user])
    if not (trailing or unrun or steps):
        return None
    run = _Run(request, messages, tools, rng, signer, Writer(budget, request, full))
    if unrun:  # their results come first, then the model's reply to the client's results
        for call in unrun:
            run.writer.result(run.execute(call))
        return run.served(None)
    run.resume(trailing)
    # With an output format every text block is the JSON answer: no words before the calls.
    json_answer = _structured.output_schema(request) is not None
    if not trailing and steps and not json_answer:
        run.writer.text(_preface(steps))
    paused = run.call_all(steps[run.done :])
    if run.writer.stop is not None:
        return run.served(run.writer.stop)
    if paused:
        return run.served("pause_turn")
    if json_answer:
        return run.served(None)  # the model's JSON answer follows
    return run.answer(user_text(messages[last_user]))


def _left_beside_client_calls(messages: list[dict[str, Any]], last_user: int) -> list[dict[str, Any]]:
    """Server calls the assistant turn before left unrun beside client calls the user now answers."""
    if not last_user or not any(b.get("type") == "tool_result" for b in blocks(messages[last_user]["content"])):
        return []
    return _unrun(blocks(messages[last_user - 1].get("content")))


def _unrun(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answered = {b.get("tool_use_id") for b in content if b.get("type", "").endswith("_tool_result")}
    return [b for b in content if b.get("type") == "server_tool_use" and b.get("id") not in answered]


def _preface(steps: list[Step]) -> str:
    step = steps[0]
    searches = sum(s.kind == "web_search" for s in steps)
    if searches > 1:
        return f"I'll run {searches} web searches."
    if step.kind == "web_search":
        return f'I\'ll search the web for "{step.value}".'
    if step.kind == "web_fetch":
        return f"I'll fetch {step.value}." if step.value else "I'll fetch that page."
    return "Let me look for a tool that can help with that."


class _Run:
    """One answer's calls: their results, what they found, and the uses of each tool."""

    def __init__(
        self,
        request: dict[str, Any],
        messages: list[dict[str, Any]],
        tools: dict[str, dict[str, Any]],
        rng: random.Random,
        signer: Signer,
        writer: Writer,
    ) -> None:
        self.request, self.messages, self.tools, self.rng = request, messages, tools, rng
        self.key = signer.derive(b"web")
        self.writer = writer
        self.corpus = web_corpus.serving()
        self.by_name = {tool["name"]: tool for tool in tools.values()}
        self.outcomes: list[Outcome] = []
        self.uses: dict[str, int] = {}
        self.done = 0  #: the planned calls an earlier (paused) answer made
        self.documents = count_documents(messages)

    def served(self, stop_reason: str | None) -> Served:
        w = self.writer
        return Served(w.blocks, stop_reason, w.stop_sequence if stop_reason == "stop_sequence" else None, w.used)

    def resume(self, trailing: list[dict[str, Any]]) -> None:
        """Take up a paused answer: what its calls found, and a call it ended on, run now."""
        calls = {b.get("id"): b for b in trailing if b.get("type") == "server_tool_use"}
        self.done = len(calls)
        index = self.documents - sum(1 for b in trailing if fetched_document(b) is not None)
        for block in trailing:
            call = calls.get(block.get("tool_use_id"))
            if call is not None:
                self.outcomes.append(outcome_of(call, block, index, self.key))
                index += fetched_document(block) is not None
        for call in _unrun(trailing):
            self.writer.result(self.execute(call))

    def call_all(self, steps: list[Step]) -> bool:
        """Make the planned calls; True when the iteration limit pauses the answer first."""
        made = 0
        for step in steps:
            if made == MAX_ITERATIONS:
                return True
            tool_input = self._input(step)
            if tool_input is None:
                continue
            call = server_tool_use(step.name, tool_input, rng=self.rng)
            if not self.writer.call(call):
                return False
            self.writer.result(self.execute(call))
            made += 1
        return False

    def _input(self, step: Step) -> dict[str, Any] | None:
        if step.kind == "web_fetch":
            url = step.value or next((f.url for o in self.outcomes for f in o.found), None)
            return {"url": url} if url else None
        return {"query": step.value}

    def execute(self, call: dict[str, Any]) -> dict[str, Any]:
        """The result block of ``call``, its outcome noted."""
        tool = self.by_name.get(call.get("name"))
        kind = next(k for k, t in self.tools.items() if t is tool) if tool is not None else None
        tool_input = call.get("input") if isinstance(call.get("input"), dict) else {}
        call_id = call["id"]
        name = call.get("name")
        uses = self.uses[name] = self.uses.get(name, 0) + 1
        over = tool is not None and tool.get("max_uses") is not None and uses > tool["max_uses"]
        if tool is None:  # a resumed call whose tool is gone (the request checks refuse that first)
            if name == "web_search":
                return _web.search_error_block(call_id, "unavailable")
            if name == "web_fetch":
                return _web.fetch_error_block(call_id, "unavailable")
            return error_block(call_id, "unavailable", f"no {name} tool is offered")
        if kind == "web_search":
            return self._search(call_id, tool, tool_input.get("query"), over)
        if kind == "web_fetch":
            return self._fetch(call_id, tool, tool_input.get("url"), over)
        return self._tool_search(call_id, tool, tool_input)

    def _search(self, call_id: str, tool: dict[str, Any], query: Any, over: bool) -> dict[str, Any]:
        outcome = Outcome("web_search", str(query))
        self.outcomes.append(outcome)
        try:
            if over:
                raise ToolError("max_uses_exceeded")
            outcome.found = _web.search(
                self.corpus,
                query,
                allowed_domains=tool.get("allowed_domains"),
                blocked_domains=tool.get("blocked_domains"),
                user_location=tool.get("user_location"),
            )
        except ToolError as exc:
            outcome.error = exc.code
            return _web.search_error_block(call_id, exc.code)
        return _web.search_result_block(call_id, outcome.found, key=self.key)

    def _fetch(self, call_id: str, tool: dict[str, Any], url: Any, over: bool) -> dict[str, Any]:
        outcome = Outcome("web_fetch", str(url))
        self.outcomes.append(outcome)
        try:
            if over:
                raise ToolError("max_uses_exceeded")
            shown = [*self.messages, {"role": "assistant", "content": self.writer.raw_blocks()}]
            context = _web.read_context(shown, key=self.key, url_sources=tool.get("url_sources"))
            outcome.fetched = _web.fetch(
                self.corpus,
                url,
                allowed_domains=tool.get("allowed_domains"),
                blocked_domains=tool.get("blocked_domains"),
                context=context,
                citations=bool((tool.get("citations") or {}).get("enabled")),
                max_content_tokens=tool.get("max_content_tokens"),
            )
        except ToolError as exc:
            outcome.error = exc.code
            return _web.fetch_error_block(call_id, exc.code)
        outcome.document_index = self.documents
        self.documents += 1
        return _web.fetch_result_block(call_id, outcome.fetched)

    def _tool_search(self, call_id: str, tool: dict[str, Any], tool_input: dict[str, Any]) -> dict[str, Any]:
        outcome = Outcome("tool_search", str(tool_input.get("query")))
        self.outcomes.append(outcome)
        try:
            variant = TOOL_SEARCH_TYPES[tool["type"]]
            outcome.names = search_tools(self.request.get("tools") or (), variant, tool_input)
        except ToolError as exc:
            outcome.error = exc.code
            return error_block(call_id, exc.code, exc.message)
        return result_block(call_id, outcome.names)

    # -- the answer ------------------------------------------------------------------------------

    def answer(self, question: str) -> Served:
        """After the calls: call a tool the search found, or say what the web gave."""
        found_tools = [n for o in self.outcomes if o.kind == "tool_search" for n in o.names]
        web = [o for o in self.outcomes if o.kind != "tool_search"]
        if found_tools and not web:
            return self._use_tool(found_tools[0], question)
        if not web:
            return self.served(None)  # nothing found: the model's own reply follows
        write_web_answer(self.writer, web, question, key=self.key)
        return self.served(self.writer.stop or "end_turn")

    def _use_tool(self, name: str, question: str) -> Served:
        tool = next((t for t in self.request.get("tools") or () if t.get("name") == name and "input_schema" in t), None)
        if tool is None:
            return self.served(None)
        self.writer.text(_prose.tool_preface(name))
        value = generate_tool_input(
            tool["input_schema"], seed=self.rng.getrandbits(64), context=question, strict=tool.get("strict") is True
        )
        if self.writer.tool_use(new_id("toolu", self.rng), name, orjson.dumps(value).decode()):
            return self.served("tool_use")
        return self.served(self.writer.stop)
