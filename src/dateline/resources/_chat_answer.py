"""A head answer in OpenAI's shape: a Message as a ``chat.completion``, a Messages event
stream as ``chat.completion.chunk``s.

One choice, its ``finish_reason`` from the stop reason; text joined, tool calls with
their arguments as JSON strings; thinking (and server tools' blocks) never shown.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

#: The stop reason as OpenAI's ``finish_reason`` (a reason not listed: ``stop``).
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop")


def usage(head: dict[str, Any]) -> dict[str, int]:
    """Prompt tokens are every input token, cached or not; completion tokens include thinking."""
    prompt = sum(
        _count(head, name) for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    completion = _count(head, "output_tokens")
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if type(value) is int else 0


def completion(message: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` of a head Message."""
    texts, calls = [], []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
    answer: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    answer["refusal"] = None
    if calls:
        answer["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": answer,
        "logprobs": None,
        "finish_reason": finish_reason(message.get("stop_reason")),
    }
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model"),
        "choices": [choice],
        "usage": usage(message.get("usage") or {}),
    }


class Chunks:
    """Head stream events in, the ``chat.completion.chunk``s they make out (often none)."""

    __slots__ = ("_id", "_created", "_model", "_calls", "_usage")

    def __init__(self) -> None:
        self._id: str | None = None
        self._created = int(time.time())
        self._model: str | None = None
        #: content block index -> the tool call's index among the answer's calls
        self._calls: dict[int, int] = {}
        self._usage: dict[str, Any] = {}

    def feed(self, name: str | None, data: Any) -> list[dict[str, Any]]:
        if type(data) is not dict:
            return []
        if name == "content_block_delta":
            delta = data.get("delta") or {}
            kind = delta.get("type")
            if kind == "text_delta":
                return [self._chunk({"content": delta.get("text") or ""})]
            if kind == "input_json_delta" and delta.get("partial_json") and data.get("index") in self._calls:
                call = {"index": self._calls[data["index"]], "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [call]})]
            return []  # thinking, signatures, citations: not shown
        if name == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") != "tool_use":
                return []
            index = self._calls[data.get("index")] = len(self._calls)
            given = block.get("input")
            arguments = orjson.dumps(given).decode() if given else ""
            function = {"name": block.get("name"), "arguments": arguments}
            call = {"index": index, "id": block.get("id"), "type": "function", "function": function}
            return [self._chunk({"tool_calls": [call]})]
        if name == "message_start":
            message = data.get("message") or {}
            self._id, self._model = message.get("id"), message.get("model")
            self._usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if name == "message_delta":
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            reason = finish_reason((data.get("delta") or {}).get("stop_reason"))
            return [self._chunk({}, reason)]
        return []

    def usage_chunk(self) -> dict[str, Any]:
        """The last chunk when ``stream_options.include_usage`` asks: no choices, the usage."""
        return {**self._chunk({}), "choices": [], "usage": usage(self._usage)}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
