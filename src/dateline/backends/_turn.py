"""A turn, and how it goes on the wire.

A ``Turn`` is everything a model decided to say: its blocks, why it stopped,
what it cost. Rendering it as a stream of head events or as one ``Message``
lives here, so every source of turns (the built-in model, scripted replies)
streams the same way. A streamed text is cut into tokens as the stream goes:
a reply of megabytes starts at once and costs nothing past where its client left.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

from .. import tokenizer
from ..ids import new_id
from ..types import Event, EventStream
from . import _server_tools

_JSON_TOKENS_PER_DELTA = 4
#: Characters of text cut into tokens in one go (fastest); a longer one is cut token by token.
_SPLIT_AT_ONCE = 64 * 1024


@dataclass
class Block:
    type: str  # "thinking" | "text" | "tool_use" | "raw"
    text: str = ""
    signature: str = ""
    tool_id: str = ""
    name: str = ""
    input_json: str = ""
    tokens: int = 0  # output tokens it costs, hidden thinking included
    #: A "raw" block as the Message has it: a server tool's call or result, or text with citations.
    raw: dict[str, Any] | None = None

    @property
    def input(self) -> dict[str, Any]:
        """A tool call's input, read from its JSON (the one copy kept)."""
        return orjson.loads(self.input_json)

    def content(self) -> dict[str, Any]:
        """The block as it appears in a non-streamed ``Message``."""
        if self.type == "text":
            return {"type": "text", "text": self.text}
        if self.type == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        if self.raw is not None:
            return copy.deepcopy(self.raw)  # a remembered turn is answered again: its blocks stay as they were
        return {"type": "tool_use", "id": self.tool_id, "name": self.name, "input": self.input}


@dataclass
class Turn:
    """What the model says: its blocks, why it stopped, what it cost."""

    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int
    #: ``{"type": "refusal", "category", "explanation"}`` for a refusal, else None.
    stop_details: dict[str, Any] | None = None
    #: Of the output tokens, those spent thinking; None when nobody said (an upstream).
    thinking_tokens: int | None = None
    #: ``{"web_search_requests", "web_fetch_requests"}`` when a server tool ran, else None.
    server_tool_use: dict[str, int] | None = None


# The order of a Message's fields and of its usage is the API's (captured 2026
# answers); fields the API leaves out when they do not apply are there as null.


def turn_message(turn: Turn, request: dict[str, Any], input_tokens: int, *, cached: int = 0) -> dict[str, Any]:
    """The non-streamed ``Message``: exactly what folding ``turn_events`` gives.

    ``input_tokens`` is the whole prompt, ``cached`` the part of it an upstream read from its cache.
    """
    usage = message_usage(request, input_tokens, turn.output_tokens, cached=cached)
    usage["server_tool_use"] = turn.server_tool_use
    usage["output_tokens_details"] = _output_details(turn)
    return _message(
        request, [b.content() for b in turn.blocks], turn.stop_reason, turn.stop_sequence, turn.stop_details, usage
    )


def message_start(
    request: dict[str, Any], input_tokens: int, *, cached: int = 0, message_id: str | None = None
) -> Event:
    """The ``message_start`` event: no content yet, no stop reason, one output token."""
    usage = message_usage(request, input_tokens, 1, cached=cached)
    message = _message(request, [], None, None, None, usage)
    if message_id is not None:
        message["id"] = message_id
    return Event("message_start", {"type": "message_start", "message": message})


def message_delta(turn: Turn, input_tokens: int, *, cached: int = 0) -> Event:
    """The ``message_delta`` event: why the turn stopped, and its usage as running totals."""
    cached = min(cached, input_tokens)
    delta = {
        "stop_reason": turn.stop_reason,
        "stop_sequence": turn.stop_sequence,
        "stop_details": turn.stop_details,
        "container": None,
    }
    usage = {
        "input_tokens": input_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": turn.output_tokens,
        "server_tool_use": turn.server_tool_use,
        "output_tokens_details": _output_details(turn),
    }
    return Event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})


def message_usage(request: dict[str, Any], input_tokens: int, output_tokens: int, *, cached: int = 0) -> dict[str, Any]:
    """A Message's ``usage``: the prompt split into uncached, written and read tokens, and how it was served."""
    cached = min(cached, input_tokens)
    return {
        "input_tokens": input_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
        "inference_geo": request.get("inference_geo") or "global",
        "server_tool_use": None,
        "output_tokens_details": None,
        "speed": request.get("speed") or "standard",
    }


def _output_details(turn: Turn) -> dict[str, int] | None:
    if turn.thinking_tokens is None:
        return None
    return {"thinking_tokens": min(turn.thinking_tokens, turn.output_tokens)}


def _message(
    request: dict[str, Any],
    content: list[dict[str, Any]],
    stop_reason: str | None,
    stop_sequence: str | None,
    stop_details: dict[str, Any] | None,
    usage: dict[str, Any],
) -> dict[str, Any]:
    return {
        "model": request["model"],
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "content": content,
        "container": None,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "stop_details": stop_details,
        "usage": usage,
        "diagnostics": None,
    }


async def turn_events(
    turn: Turn, request: dict[str, Any], input_tokens: int, *, stream: bool, delay: float = 0.0, cached: int = 0
) -> EventStream:
    """The head event stream of ``turn``, one token per delta when streaming."""
    yield message_start(request, input_tokens, cached=cached)
    delay = delay if stream else 0.0
    for index, block in enumerate(turn.blocks):
        for event in block_events(index, block, stream):
            if delay and event.name == "content_block_delta":
                await asyncio.sleep(delay)
            yield event
        if index == 0:
            yield Event("ping", {"type": "ping"})
    yield message_delta(turn, input_tokens, cached=cached)
    yield Event("message_stop", {"type": "message_stop"})


def block_events(index: int, block: Block, stream: bool):
    if block.raw is not None:
        yield from _server_tools.block_events(index, block.raw, stream=stream)
        return
    if block.type == "text":
        yield _start(index, {"type": "text", "text": ""})
        for piece in _tokens(block.text) if stream else (block.text,):
            yield _delta(index, {"type": "text_delta", "text": piece})
    elif block.type == "thinking":
        yield _start(index, {"type": "thinking", "thinking": "", "signature": ""})
        if block.text:
            for piece in _tokens(block.text) if stream else (block.text,):
                yield _delta(index, {"type": "thinking_delta", "thinking": piece})
        yield _delta(index, {"type": "signature_delta", "signature": block.signature})
    else:
        yield _start(index, {"type": "tool_use", "id": block.tool_id, "name": block.name, "input": {}})
        yield _delta(index, {"type": "input_json_delta", "partial_json": ""})
        if stream:
            pieces = iter(_tokens(block.input_json))
            while chunk := "".join(islice(pieces, _JSON_TOKENS_PER_DELTA)):
                yield _delta(index, {"type": "input_json_delta", "partial_json": chunk})
        else:
            yield _delta(index, {"type": "input_json_delta", "partial_json": block.input_json})
    yield Event("content_block_stop", {"type": "content_block_stop", "index": index})


def _tokens(text: str) -> Iterable[str]:
    # A long text is cut as the stream goes, so its first token leaves at once.
    return tokenizer.split(text) if len(text) <= _SPLIT_AT_ONCE else tokenizer.pieces(text)


def _start(index: int, block: dict[str, Any]) -> Event:
    return Event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return Event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
