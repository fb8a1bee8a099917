"""``accumulate`` (backends/_base.py): folding a head event stream into a
``Message`` agrees with the official SDK's own accumulator, event for event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from messages_wire import MODEL, fold, without_id

from dateline.backends._base import accumulate


def _start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 4},
        },
    }


def _block(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


_CITATION = {"type": "char_location", "cited_text": "Kelp", "document_index": 0, "document_title": None, "start_char_index": 0, "end_char_index": 4}

FOLD_CASES = {
    "text_and_tool": [
        _start(),
        _block(0, {"type": "text", "text": ""}),
        _delta(0, {"type": "text_delta", "text": "Hello"}),
        _delta(0, {"type": "text_delta", "text": " there"}),
        _stop(0),
        {"type": "ping"},
        _block(1, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        _delta(1, {"type": "input_json_delta", "partial_json": ""}),
        _delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
        _delta(1, {"type": "input_json_delta", "partial_json": 'ris"}'}),
        _stop(1),
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 12}},
        {"type": "message_stop"},
    ],
    "tool_without_input": [
        _start(),
        _block(0, {"type": "tool_use", "id": "toolu_1", "name": "ping", "input": {}}),
        _delta(0, {"type": "input_json_delta", "partial_json": ""}),
        _stop(0),
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ],
    "thinking": [
        _start(),
        _block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        _delta(0, {"type": "thinking_delta", "thinking": "Let me"}),
        _delta(0, {"type": "thinking_delta", "thinking": " think."}),
        _delta(0, {"type": "signature_delta", "signature": "c2lnMQ=="}),
        _delta(0, {"type": "signature_delta", "signature": "c2lnMg=="}),
        _stop(0),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ],
    "citations_from_null": [
        _start(),
        _block(0, {"type": "text", "text": "", "citations": None}),
        _delta(0, {"type": "citations_delta", "citation": _CITATION}),
        _delta(0, {"type": "text_delta", "text": "Kelp grows."}),
        _delta(0, {"type": "citations_delta", "citation": {**_CITATION, "cited_text": "grows"}}),
        _stop(0),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ],
    "usage_nulls_keep_start_values": [
        _start(),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None, "container": None},
            "usage": {"output_tokens": 0, "input_tokens": None, "cache_creation_input_tokens": None, "cache_read_input_tokens": 9},
        },
        {"type": "message_stop"},
    ],
    "stop_sequence": [
        _start(),
        _block(0, {"type": "text", "text": ""}),
        _delta(0, {"type": "text_delta", "text": "Hi"}),
        _stop(0),
        {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"}, "usage": {"output_tokens": 1, "input_tokens": 11}},
        {"type": "message_stop"},
    ],
}


@pytest.mark.parametrize("case", FOLD_CASES)
def test_accumulate_agrees_with_the_sdk(case: str) -> None:
    events = FOLD_CASES[case]

    async def source():
        for event in json.loads(json.dumps(events)):
            yield event["type"], event

    ours = asyncio.run(accumulate(source()))
    theirs = fold(json.loads(json.dumps(events)))
    assert without_id(ours) == without_id(theirs)
