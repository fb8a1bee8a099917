"""A streamed chat completion as the Messages event stream.

The bookkeeping OpenAI servers leave to the client: a block is opened
(``content_block_start``) before its first delta and closed before the next
one opens; indexes count blocks in the order they open (thinking, then text,
then tool calls, as the upstream interleaves them); a thinking block ends
with its ``signature_delta``. Tool calls are matched by ``index``, since
llama.cpp repeats ``id``, ``name`` and ``type`` in every chunk of a call.
Chunks without choices, and deltas with nothing in them, are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from .. import errors
from ..thinking import Signer
from ..types import Event
from ..upstream import Upstream, server_sent_events
from ._openai_reply import (
    counts,
    estimate_output,
    function_of,
    listed,
    malformed,
    message_id,
    reasoning_of,
    signature,
    stop_reason,
    text_of,
    thinking_display,
    tool_use_id,
)
from ._stop import StopScanner
from ._turn import Turn, message_delta, message_start

logger = logging.getLogger("dateline")

#: What ``chunks`` yields for ``data: [DONE]``: the upstream finished properly.
DONE: dict[str, Any] = {}


async def chunks(response: httpx.Response, upstream: Upstream) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of an upstream's SSE body, then ``DONE`` if it said so.

    An error payload comes as ``{"error": ...}`` (llama.cpp sends it in an
    ``error:`` field, others in ``data:``). A broken connection or a pause
    longer than the read timeout raises the API's error.
    """
    async for event in server_sent_events(response, upstream):
        if "error" in event:
            yield {"error": _payload(event["error"], upstream)}
        data = event.get("data")
        if data is None:
            continue
        if data.strip() == "[DONE]":
            yield DONE
            return
        yield _payload(data, upstream)


def _payload(text: str, upstream: Upstream) -> Any:
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        raise errors.InternalServerError(f"The upstream {upstream.name} sent a malformed chunk: {text[:200]!r}")
    return payload


class StreamTranslator:
    """Chat completion chunks in (``feed``), Messages events out; ``finish`` ends the message."""

    def __init__(self, request: dict[str, Any], signer: Signer, *, input_tokens: int) -> None:
        self.signer = signer
        self.display = thinking_display(request)
        self.scanner = StopScanner(request.get("stop_sequences") or ())
        self.request = request
        self.input_tokens = input_tokens  # the whole prompt: an estimate until the upstream's usage comes
        self.input_counted = False  # whether the upstream said how many
        self.cached = 0  # of the prompt, read from the upstream's cache
        self.output_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.upstream_id: Any = None
        self.started = False
        self.finish_reason: Any = None
        self.stop_sequence: str | None = None
        self.index = -1
        self.open: str | None = None  # the open block's type
        self.tool_key: Any = None  # the open tool call's upstream index
        self.tools_closed: set[Any] = set()
        self.tool_count = 0
        self.block_thinking: list[str] = []
        self.said: dict[str, list[str]] = {"thinking": [], "text": [], "tool_use": []}  # to estimate output tokens
        self._out: list[Event] = []

    @property
    def stopped(self) -> bool:
        """Whether a stop sequence ended the answer (read no further)."""
        return self.stop_sequence is not None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if not self.started:
            self._start(chunk)
        prompt, completion, cached, reasoning = counts(chunk.get("usage"))
        if prompt is not None:
            self.input_tokens, self.input_counted = prompt, True
        self.output_tokens = completion if completion is not None else self.output_tokens
        self.cached = cached if cached is not None else self.cached
        self.reasoning_tokens = reasoning if reasoning is not None else self.reasoning_tokens
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta)
            if self.stopped:
                break
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return self._take()

    def finish(self, *, done: bool) -> list[Event]:
        """The end of the message; ``done``: the upstream sent ``[DONE]``."""
        if not self.started:
            raise errors.InternalServerError("The upstream's stream ended before its first chunk")
        if not (done or self.stopped or self.finish_reason):
            raise errors.InternalServerError("The upstream's stream ended before the answer was complete")
        self._flush_text()
        self._close()
        if self.stopped:
            reason = "stop_sequence"
        else:
            reason = stop_reason(self.finish_reason, called_tools=self.tool_count > 0)
        output = self.output_tokens
        if output is None or self.stopped:
            output = estimate_output(*("".join(parts) for parts in self.said.values()))
        turn = Turn([], reason, self.stop_sequence, output, thinking_tokens=self.reasoning_tokens)
        self._out.append(message_delta(turn, self.input_tokens, cached=self.cached))
        self._emit("message_stop", {})
        return self._take()

    # -- one chunk -------------------------------------------------------------

    def _start(self, chunk: dict[str, Any]) -> None:
        self.started = True
        self.upstream_id = chunk.get("id")
        first = counts(chunk.get("usage"))
        self._out.append(
            message_start(
                self.request,
                first.prompt or self.input_tokens,
                cached=first.cached or 0,
                message_id=message_id(self.upstream_id),
            )
        )

    def _delta(self, delta: dict[str, Any]) -> None:
        reasoning = reasoning_of(delta)
        if reasoning:
            self._think(reasoning)
        text = text_of(delta.get("content"))
        if text:
            self._text(text)
            if self.stopped:
                return
        for call in listed(delta.get("tool_calls"), "a chunk's tool_calls"):
            if isinstance(call, dict):
                self._call(call)

    def _think(self, text: str) -> None:
        self.said["thinking"].append(text)
        if self.display is None:
            return  # thinking was not asked for: the API would not show it
        self._switch("thinking")
        self.block_thinking.append(text)
        if self.display != "omitted":
            self._delta_event({"type": "thinking_delta", "thinking": text})

    def _text(self, text: str) -> None:
        safe, self.stop_sequence = self.scanner.feed(text)
        if safe:
            self._switch("text")
            self._say(safe)

    def _call(self, call: dict[str, Any]) -> None:
        self._flush_text()
        key = call.get("index")
        if key is None:  # not OpenAI's form: the id, or else the call under way
            key = call.get("id") or (self.tool_key if self.open == "tool_use" else self.tool_count)
        if not isinstance(key, (int, str)):
            raise malformed("a tool call's index is neither a number nor a string")
        function = function_of(call)
        if self.open != "tool_use" or key != self.tool_key:
            if key in self.tools_closed:
                logger.warning("upstream sent more of tool call %r after its block was closed; dropped", key)
                return
            self._close()
            tool_id = tool_use_id(self.upstream_id, self.tool_count, call.get("id"))
            self.tool_count += 1
            self._begin({"type": "tool_use", "id": tool_id, "name": function.get("name") or "", "input": {}})
            self.tool_key = key
            self._delta_event({"type": "input_json_delta", "partial_json": ""})
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self.said["tool_use"].append(arguments)
            self._delta_event({"type": "input_json_delta", "partial_json": arguments})

    # -- blocks ----------------------------------------------------------------

    def _switch(self, kind: str) -> None:
        if kind != "text":
            self._flush_text()
        if self.open != kind:
            self._close()
            self._begin(
                {"type": "text", "text": ""} if kind == "text" else {"type": kind, "thinking": "", "signature": ""}
            )

    def _flush_text(self) -> None:
        """Text held back for a stop sequence that can no longer come (the text block ends)."""
        rest = self.scanner.flush()
        if rest:
            self._switch("text")
            self._say(rest)

    def _say(self, text: str) -> None:
        self.said["text"].append(text)
        self._delta_event({"type": "text_delta", "text": text})

    def _begin(self, block: dict[str, Any]) -> None:
        self.index += 1
        self.open = block["type"]
        self.block_thinking = []
        self._emit("content_block_start", {"index": self.index, "content_block": block})

    def _close(self) -> None:
        if self.open is None:
            return
        if self.open == "thinking":
            sig = signature(self.signer, "".join(self.block_thinking), self.display or "summarized")
            self._delta_event({"type": "signature_delta", "signature": sig})
        elif self.open == "tool_use":
            self.tools_closed.add(self.tool_key)
            self.tool_key = None
        self._emit("content_block_stop", {"index": self.index})
        self.open = None

    def _delta_event(self, delta: dict[str, Any]) -> None:
        self._emit("content_block_delta", {"index": self.index, "delta": delta})

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        self._out.append(Event(name, {"type": name, **data}))

    def _take(self) -> list[Event]:
        out, self._out = self._out, []
        return out
