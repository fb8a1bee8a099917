"""Replies written by a test rather than composed by a model.

A rule's reply (see ``dateline.script``) becomes a ``Turn`` and goes on the
wire through the same rendering as the built-in model's, so it streams
exactly like a real answer under every API version.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

import orjson

from .. import tokenizer
from ..ids import new_id
from ..script import Reply
from ..thinking import Signer
from ..types import EventStream
from ._base import Backend
from ._turn import Block, Turn, turn_events, turn_message

#: Characters of reply beyond which counting its tokens (~60 ms a megabyte) leaves the event loop.
_OFF_LOOP_CHARS = 64 * 1024


class ScriptedReply(Backend):
    """A backend that answers one request with the reply it was given."""

    name = "script"
    emulates_caching = True

    def __init__(self, reply: Reply, signer: Signer, *, token_delay: float = 0.0) -> None:
        self.reply = reply
        self.signer = signer
        self.token_delay = token_delay

    async def count_tokens(self, request: dict[str, Any]) -> int:
        return self._input_tokens(request)

    async def message(self, request: dict[str, Any]) -> dict[str, Any]:
        turn, input_tokens = await self._prepare(request)
        return turn_message(turn, request, input_tokens)

    def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        if self._reply_size() > _OFF_LOOP_CHARS:
            return self._long_messages(request, stream=stream)
        turn, input_tokens = self._turn_and_tokens(request)
        return turn_events(turn, request, input_tokens, stream=stream, delay=self.token_delay)

    async def _long_messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        turn, input_tokens = await self._prepare(request)
        async for event in turn_events(turn, request, input_tokens, stream=stream, delay=self.token_delay):
            yield event

    async def _prepare(self, request: dict[str, Any]) -> tuple[Turn, int]:
        """The turn and its input tokens; counting a long reply's tokens runs off the event loop."""
        if self._reply_size() > _OFF_LOOP_CHARS:
            return await asyncio.to_thread(self._turn_and_tokens, request)
        return self._turn_and_tokens(request)

    def _turn_and_tokens(self, request: dict[str, Any]) -> tuple[Turn, int]:
        return self.turn(request), self._input_tokens(request)

    def _reply_size(self) -> int:
        reply = self.reply
        return (
            len(reply.text or "") + len(reply.thinking or "") + sum(len(orjson.dumps(c.input)) for c in reply.tool_use)
        )

    def _input_tokens(self, request: dict[str, Any]) -> int:
        usage = self.reply.usage
        if usage is not None and usage.input_tokens is not None:
            return usage.input_tokens
        return tokenizer.count_request(request)

    def turn(self, request: dict[str, Any]) -> Turn:
        reply = self.reply
        # Tool ids a script leaves out are made up, but the same for the same request.
        rng = random.Random(hashlib.sha256(orjson.dumps(request.get("messages"))).digest())
        out: list[Block] = []
        if reply.thinking is not None:
            signature = self.signer.sign(reply.thinking)
            out.append(Block("thinking", reply.thinking, signature, tokens=tokenizer.count(reply.thinking)))
        if reply.text:
            out.append(Block("text", reply.text, tokens=tokenizer.count(reply.text)))
        for call in reply.tool_use:
            raw = orjson.dumps(call.input).decode()
            tool_id = call.id or new_id("toolu", rng)
            out.append(Block("tool_use", tool_id=tool_id, name=call.name, input_json=raw, tokens=tokenizer.count(raw)))
        stop_reason = reply.stop_reason or (
            "refusal" if reply.stop_details else "tool_use" if reply.tool_use else "end_turn"
        )
        details = None
        if stop_reason == "refusal":
            # A refusal always says so; a rule that names no category or explanation gets nulls.
            details = {"type": "refusal", "category": None, "explanation": None}
            if reply.stop_details is not None:
                details.update(reply.stop_details.model_dump(include={"category", "explanation"}))
        output = sum(b.tokens for b in out)
        thinking = out[0].tokens if out and out[0].type == "thinking" else 0
        if reply.usage is not None and reply.usage.output_tokens is not None:
            output = reply.usage.output_tokens
        return Turn(out, stop_reason, reply.stop_sequence, output, details, thinking_tokens=thinking)
