"""The built-in model: deterministic, offline, and shaped like Claude.

The same request always gets the same reply: every choice is drawn from a
generator seeded by the conversation. It honours ``max_tokens``,
``stop_sequences``, tools (schema-valid ``tool_use`` input) and thinking
(signed thinking blocks), and streams one token per delta. On a model that
stops at its context window (the catalog's ``window_stop``), a reply that would
overflow the window ends there with ``model_context_window_exceeded``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import OrderedDict
from typing import Any

import orjson

from .. import errors, tokenizer
from .._content import block_text, blocks, content_text, system_text
from ..catalog import Catalog, ModelInfo
from ..exchange import exchange
from ..ids import new_id
from ..thinking import Signer
from ..types import EventStream
from . import _effort, _prose, _server_turn, _structured
from ._base import Backend
from ._stop import find_stop
from ._tool_input import generate_tool_input
from ._tool_names import named_tool
from ._turn import Block, Turn, turn_events, turn_message

#: How much of the user's text the prose is drawn from.
_CONTEXT_CHARS = 256 * 1024


class BuiltinModel(Backend):
    name = "builtin"
    emulates_caching = True

    #: Replies remembered, so a repeated request (the common case in a test
    #: suite) skips composing. The model is deterministic, so this is exact.
    memo_size = 1024
    #: A request bigger than this (as JSON) is composed and counted in a worker
    #: thread: the event loop goes on serving other clients meanwhile.
    thread_bytes = 256 * 1024

    def __init__(self, signer: Signer, *, token_delay: float = 0.0, catalog: Catalog | None = None) -> None:
        self.signer = signer
        self.token_delay = token_delay
        #: Where each model's context window is read (None: no window is enforced).
        self.catalog = catalog
        self._memo: OrderedDict[bytes, tuple[Turn, int]] = OrderedDict()

    async def count_tokens(self, request: dict[str, Any]) -> int:
        if len(orjson.dumps(request)) > self.thread_bytes:
            return await asyncio.to_thread(tokenizer.count_request, request)
        return tokenizer.count_request(request)

    async def answer(self, request: dict[str, Any]) -> tuple[Turn, int]:
        """The reply and the request's input tokens, composed once per distinct request."""
        raw = _memo_raw(request, self.window(request))
        key = _memo_key(raw)
        found = self._remembered(key)
        if found is not None:
            return found
        if len(raw) > self.thread_bytes:
            return self._remember(key, await asyncio.to_thread(self._compose_counted, request))
        return self._remember(key, self._compose_counted(request))

    def _remembered(self, key: bytes) -> tuple[Turn, int] | None:
        found = self._memo.get(key)
        if found is not None:
            self._memo.move_to_end(key)
        return found

    def _remember(self, key: bytes, found: tuple[Turn, int]) -> tuple[Turn, int]:
        self._memo[key] = found
        if len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return found

    def _compose_counted(self, request: dict[str, Any]) -> tuple[Turn, int]:
        input_tokens = tokenizer.count_request(request)
        return self.compose(request, input_tokens=input_tokens), input_tokens

    async def message(self, request: dict[str, Any]) -> dict[str, Any]:
        # Built straight from the turn: what folding messages() would give, faster.
        turn, input_tokens = await self.answer(request)
        return turn_message(turn, request, input_tokens)

    def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        raw = _memo_raw(request, self.window(request))
        key = _memo_key(raw)
        found = self._remembered(key)
        if found is None:
            if len(raw) > self.thread_bytes:
                return self._composed_events(request, stream)
            found = self._remember(key, self._compose_counted(request))
        turn, input_tokens = found
        return turn_events(turn, request, input_tokens, stream=stream, delay=self.token_delay)

    async def _composed_events(self, request: dict[str, Any], stream: bool) -> EventStream:
        turn, input_tokens = await self.answer(request)
        async for event in turn_events(turn, request, input_tokens, stream=stream, delay=self.token_delay):
            yield event

    def compose(self, request: dict[str, Any], *, input_tokens: int | None = None) -> Turn:
        """Decide the whole reply up front; streaming only paces it.

        ``input_tokens``: the request's, when already counted (the window needs them).
        """
        turn = self._compose(request, self._room(request, input_tokens))
        turn.thinking_tokens = sum(b.tokens for b in turn.blocks if b.type == "thinking")
        turn.server_tool_use = _server_turn.usage(turn.blocks)
        return turn

    def window(self, request: dict[str, Any]) -> int | None:
        """The context window the reply stops at: a ``window_stop`` model's, else None."""
        info = self.catalog.get(request["model"]) if self.catalog is not None else None
        if info is None or not info.has("window_stop"):
            return None
        return info.context_window(exchange().betas)

    def _room(self, request: dict[str, Any], input_tokens: int | None) -> int | None:
        """What the context window leaves for the reply, when that is less than ``max_tokens``."""
        window = self.window(request)
        if window is None:
            return None
        if input_tokens is None:
            input_tokens = tokenizer.count_request(request)
        room = max(window - input_tokens, 0)
        return room if room < request["max_tokens"] else None

    def _compose(self, request: dict[str, Any], room: int | None) -> Turn:
        info = self.catalog.get(request["model"]) if self.catalog is not None else None
        rng = random.Random(_seed(request, info))
        messages = request["messages"]
        conversation = [m for m in messages if m.get("role") != "system"]
        last_user = next((m for m in reversed(conversation) if m["role"] == "user"), None)
        user_blocks = blocks(last_user["content"]) if last_user else []
        # What the user wrote, and the text documents they attached: the reply draws on both.
        user_text = "\n".join(block_text(b) for b in user_blocks if b.get("type") in ("text", "document"))
        context = user_text or system_text(request.get("system")) or content_text(messages[-1].get("content"))
        # The prose reads the start of a long text: whole-text regex passes hold the interpreter's lock.
        context = context[:_CONTEXT_CHARS]
        results = _tool_results(conversation, user_blocks)

        out: list[Block] = []
        # Whichever ends the reply first: max_tokens, or the window.
        budget, full = (
            (request["max_tokens"], "max_tokens") if room is None else (room, "model_context_window_exceeded")
        )
        thinking = request.get("thinking") or {}
        if thinking.get("type") in ("enabled", "adaptive") and budget > 0:
            omitted = thinking.get("display") == "omitted"
            limit = min(budget, thinking.get("budget_tokens") or budget)
            text, _, count = _truncate(_effort.thinking(context, rng, _effort.effort(request, info)), limit)
            signature = self.signer.sign("" if omitted else text, omitted=omitted)
            out.append(Block("thinking", "" if omitted else text, signature, tokens=count))
        used = sum(b.tokens for b in out)
        if used >= budget:
            return Turn(out, full, None, budget)
        # Web search, web fetch, tool search: calls and results first, maybe the whole answer.
        served = _server_turn.serve(request, rng, signer=self.signer, budget=budget - used, full=full)
        if served is not None:
            out += served.blocks
            used += served.output_tokens
            if served.stop_reason is not None:
                return Turn(out, served.stop_reason, served.stop_sequence, used)

        tool, forced = _choose_tool(request, user_text, bool(results), rng)
        schema = _structured.output_schema(request)  # the direct output is JSON: no preface to a call
        if tool is not None and not forced and schema is None:
            text = _prose.tool_preface(tool["name"])
        elif tool is not None:
            text = ""
        elif schema is not None:
            text = _structured.json_answer(schema, rng, context)
        elif results:
            text = _prose.after_tool(results, rng)
        else:
            text = _prose.reply(context, rng)
        lead = " " if _prefilled(conversation) else ""  # the reply continues the assistant's own words
        text = lead + text if text else text

        stop_sequences = request.get("stop_sequences") or ()
        cut = find_stop(text, stop_sequences)
        if tool is not None and cut is None:
            text_tokens = tokenizer.count(text)
            value = generate_tool_input(
                tool.get("input_schema") or {},
                seed=rng.getrandbits(64),
                context=context,
                strict=tool.get("strict") is True,
            )
            tool_json = orjson.dumps(value).decode()
            if used + text_tokens + tokenizer.count(tool_json) <= budget:
                if text:
                    out.append(Block("text", text))
                out.append(Block("tool_use", tool_id=new_id("toolu", rng), name=tool["name"], input_json=tool_json))
                return Turn(out, "tool_use", None, used + text_tokens + tokenizer.count(tool_json))
            # The call does not fit: the model runs out of room mid-sentence.
            if schema is None:
                longer = _prose.reply(context, rng, wants_long=True)
            else:
                longer = _structured.json_answer(schema, rng, context)
            text = f"{text} {longer}" if text else lead + longer
            cut = find_stop(text, stop_sequences)
        stop_sequence = None
        if cut is not None:
            text, stop_sequence = text[: cut[0]], cut[1]
        text, truncated, count = _truncate(text, budget - used)
        if text:
            out.append(Block("text", text))
        output = used + count
        if truncated:
            return Turn(out, full, None, budget)
        if stop_sequence is not None:
            return Turn(out, "stop_sequence", stop_sequence, output)
        return Turn(out, "end_turn", None, output)


def _memo_raw(request: dict[str, Any], window: int | None) -> bytes:
    # Everything compose() and count_request() read; key order as sent is fine here.
    return orjson.dumps(
        [
            window,
            request.get("model"),
            request.get("system"),
            request.get("messages"),
            request.get("tools"),
            request.get("tool_choice"),
            request.get("thinking"),
            request.get("max_tokens"),
            request.get("stop_sequences"),
            request.get("output_config"),
            _server_turn.memo_key(request),
        ]
    )


def _memo_key(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _seed(request: dict[str, Any], info: ModelInfo | None = None) -> int:
    # Everything that shapes the answer, nothing that only shapes its delivery (stream).
    parts = [
        request.get("model"),
        request.get("system"),
        request.get("messages"),
        [t.get("name") for t in request.get("tools") or ()],
        request.get("tool_choice"),
        {k: v for k, v in (request.get("thinking") or {}).items() if k != "display"},
    ]
    shaping = _structured.shaping(request, info)
    if shaping is not None:  # only then: answers without output_config stay as they were
        parts.append(shaping)
    key = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _prefilled(conversation: list[dict[str, Any]]) -> bool:
    """Whether the conversation ends in assistant text the reply must continue."""
    if not conversation or conversation[-1]["role"] != "assistant":
        return False
    content = blocks(conversation[-1]["content"])
    return bool(content) and content[-1].get("type") == "text"


def _tool_results(conversation: list[dict[str, Any]], user_blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    names = {}
    for message in conversation:
        if message["role"] == "assistant":
            for block in blocks(message["content"]):
                if block.get("type") == "tool_use":
                    names[block["id"]] = block["name"]
    return [
        (names.get(b["tool_use_id"], "tool"), content_text(b.get("content")))
        for b in user_blocks
        if b.get("type") == "tool_result"
    ]


def _choose_tool(
    request: dict[str, Any], user_text: str, after_results: bool, rng: random.Random
) -> tuple[dict[str, Any] | None, bool]:
    """The tool to call (if any), and whether the call was forced."""
    tools = [t for t in request.get("tools") or () if "input_schema" in t]
    choice = (request.get("tool_choice") or {}).get("type", "auto")
    if not tools or choice == "none":
        return None, False
    if choice == "tool":
        name = request["tool_choice"]["name"]
        for tool in tools:
            if tool["name"] == name:
                return tool, True
        raise errors.InvalidRequestError(f"tool_choice: tool `{name}` was not found in `tools`")
    named = named_tool(tools, user_text)
    if choice == "any":
        return named or rng.choice(tools), True
    if named is not None and not after_results:
        return named, False
    return None, False


def _truncate(text: str, limit: int) -> tuple[str, bool, int]:
    """``text`` cut to ``limit`` tokens, whether it was cut, and its token count."""
    tokens = tokenizer.split(text)
    if len(tokens) <= limit:
        return text, False, len(tokens)
    limit = max(limit, 0)
    return "".join(tokens[:limit]), True, limit
