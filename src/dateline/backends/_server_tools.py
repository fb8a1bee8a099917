"""What every server tool shares: the call block, a tool's error, and how the blocks stream.

A server tool runs inside the turn: the model's ``server_tool_use`` block is
followed, in the same answer, by the tool's result block. A tool that fails
still answers with HTTP 200; its result block carries the error code
(``ToolError`` until a builder turns it into that block).

Streaming follows captured answers: a call streams its input as
``input_json_delta``s (an empty one first), a result block arrives whole in
its ``content_block_start``, and a text block that cites opens with an empty
``citations`` list and sends each citation before its text.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from itertools import islice
from typing import Any

from .. import tokenizer
from ..ids import new_id
from ..types import Event

#: The ``caller`` of a call the model made itself (not from code execution).
DIRECT: dict[str, Any] = {"type": "direct"}

_JSON_TOKENS_PER_DELTA = 4


class ToolError(Exception):
    """A server tool's failure, answered in its result block (``error_code`` from the SDK's enum)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message


def server_tool_use(
    name: str, tool_input: dict[str, Any], *, rng: random.Random, caller: dict[str, Any] | None = DIRECT
) -> dict[str, Any]:
    """The model's call of server tool ``name``; its id comes from ``rng`` (a seeded reply repeats it)."""
    block = {"type": "server_tool_use", "id": new_id("srvtoolu", rng), "name": name, "input": tool_input}
    if caller is not None:
        block["caller"] = caller
    return block


def cited_text(text: str, citations: list[dict[str, Any]]) -> dict[str, Any]:
    """A text block carrying ``citations`` (key order as the API sends it)."""
    return {"citations": citations, "type": "text", "text": text}


def block_events(index: int, block: dict[str, Any], *, stream: bool) -> Iterator[Event]:
    """The stream events of one block a server-tool turn adds (a call, a result, or cited text).

    ``stream`` False sends each text or input in one delta, as nobody watches them arrive.
    """
    kind = block["type"]
    if kind == "server_tool_use":
        yield _start(index, {**block, "input": {}})
        yield _delta(index, {"type": "input_json_delta", "partial_json": ""})
        # The API writes a call's input with spaces after ``:`` and ``,``.
        text = json.dumps(block["input"], ensure_ascii=False)
        for piece in _chunks(text) if stream else (text,):
            yield _delta(index, {"type": "input_json_delta", "partial_json": piece})
    elif kind == "text":
        yield _start(index, {"citations": [], "type": "text", "text": ""})
        for citation in block.get("citations") or ():
            yield _delta(index, {"type": "citations_delta", "citation": citation})
        for piece in tokenizer.split(block["text"]) if stream else (block["text"],):
            yield _delta(index, {"type": "text_delta", "text": piece})
    else:  # a result block arrives whole
        yield _start(index, block)
    yield Event("content_block_stop", {"type": "content_block_stop", "index": index})


def _chunks(text: str) -> Iterator[str]:
    pieces = iter(tokenizer.split(text))
    while chunk := "".join(islice(pieces, _JSON_TOKENS_PER_DELTA)):
        yield chunk


def _start(index: int, block: dict[str, Any]) -> Event:
    return Event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return Event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
