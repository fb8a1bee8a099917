"""Talking to ``POST /v1/messages`` in tests: the requests, the error envelope,
the SSE grammar every stream keeps, and folding a stream the SDK's own way.

Shared by the Messages resource's tests (tests/resources/test_messages*.py) and
the tests of what the built-in model answers (tests/backends/)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import anthropic
import httpx
from anthropic.lib.streaming._messages import accumulate_event
from conftest import sse_events

MODEL = "claude-haiku-4-5"
PROMPT = "Tell me about tide pools"

# A 1x1 PNG and a minimal one-page PDF.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4b60000000049454e44ae426082"
    )
).decode()
PDF = base64.b64encode(
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n" * 20
).decode()

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
SEARCH = {
    "name": "search_docs",
    "description": "Search the documentation.",
    "input_schema": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 3},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            "filters": {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
                "required": ["tags"],
                "additionalProperties": False,
            },
        },
        "required": ["query", "limit", "filters"],
        "additionalProperties": False,
    },
}
TOOLS = [WEATHER, SEARCH]

START, BLOCK_START, DELTA, BLOCK_STOP, MESSAGE_DELTA, STOP = "SBDEMZ"
_LETTERS = {
    "message_start": START,
    "content_block_start": BLOCK_START,
    "content_block_delta": DELTA,
    "content_block_stop": BLOCK_STOP,
    "message_delta": MESSAGE_DELTA,
    "message_stop": STOP,
}
_DELTA_FOR = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}


def sdk(base_url: str) -> anthropic.Anthropic:
    """The official SDK as today's users run it (Bearer auth, 2026-10-21, strict response validation)."""
    return anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, _strict_response_validation=True
    )


def raw(base_url: str) -> httpx.Client:
    """Raw HTTP, as Claude Code and older SDKs send it (x-api-key, 2023-06-01)."""
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def body(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": list(messages) or [user(PROMPT)], **extra}


def post(http: httpx.Client, request: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    return http.post(path, json=request)


def ok(http: httpx.Client, request: dict[str, Any]) -> dict[str, Any]:
    response = post(http, request)
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response, status: int = 400, kind: str = "invalid_request_error") -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == kind
    assert payload["request_id"].startswith("req_")
    assert response.headers["request-id"] == payload["request_id"]
    return payload["error"]["message"]


def text_of(message: dict[str, Any]) -> str:
    return "".join(b["text"] for b in message["content"] if b["type"] == "text")


def stream_events(response: httpx.Response) -> list[dict[str, Any]]:
    """The stream's events, after checking the SSE contract they must keep."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["request-id"].startswith("req_")
    events = []
    for name, data in sse_events(response.text):
        assert data is not None
        payload = json.loads(data)
        assert name == payload["type"], (name, payload)
        events.append(payload)
    assert events and events[0]["type"] == "message_start"  # pings only after it
    shape = "".join(_LETTERS[e["type"]] for e in events if e["type"] != "ping")
    assert re.fullmatch(f"{START}({BLOCK_START}{DELTA}*{BLOCK_STOP})*{MESSAGE_DELTA}{STOP}", shape), shape
    assert {e["type"] for e in events} <= {*_LETTERS, "ping"}

    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] > 0 and "output_tokens" in start["usage"]
    final = next(e for e in events if e["type"] == "message_delta")
    assert final["usage"]["output_tokens"] >= 0 and final["delta"]["stop_reason"] is not None

    opened: list[str] = []
    current = None
    for e in events:
        if e["type"] == "content_block_start":
            assert e["index"] == len(opened)
            current = e["content_block"]["type"]
            opened.append(current)
        elif e["type"] == "content_block_delta":
            assert e["index"] == len(opened) - 1
            assert e["delta"]["type"] in _DELTA_FOR[current], (current, e)
        elif e["type"] == "content_block_stop":
            assert e["index"] == len(opened) - 1
    return events


def raw_stream(http: httpx.Client, request: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    return stream_events(http.post("/v1/messages", json={**request, "stream": True}, **kwargs))


def fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The message the SDK's own accumulator builds from raw events."""
    snapshot, bufs = None, {}
    for event in events:
        if event["type"] != "ping":
            snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    assert snapshot is not None
    return snapshot.to_dict()


def deltas(events: list[dict[str, Any]], index: int, kind: str, field: str) -> list[str]:
    return [
        e["delta"][field]
        for e in events
        if e["type"] == "content_block_delta" and e["index"] == index and e["delta"]["type"] == kind
    ]


def without_id(message: Any) -> dict[str, Any]:
    """A Message (SDK object or wire dict) as the SDK's full model, minus its id."""
    data = message.model_dump() if hasattr(message, "model_dump") else message
    data = anthropic.types.Message.model_validate(data).model_dump()
    data.pop("id")
    return data
