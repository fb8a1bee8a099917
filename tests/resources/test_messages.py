"""POST /v1/messages and /v1/messages/count_tokens, over real HTTP.

The official SDK (strict response validation) and raw httpx talk to a running
Dateline; every answer is checked against the wire contract: the Message
shape, the SSE event grammar, the API's validation texts, and the built-in
model's promises (determinism, max_tokens, stop sequences, tools, thinking).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from claude_code import TOOL_NAMES, tool_schema
from conftest import sse_events

from dateline.backends._base import accumulate

MODEL = "claude-haiku-4-5"
MODEL_ID = "claude-haiku-4-5-20251001"
MODEL_MAX_TOKENS = 64000
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
TOOL_SCHEMAS = {t["name"]: t["input_schema"] for t in TOOLS}

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


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    """As conftest's ``client``, built once: each new client loads its TLS context."""
    with anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    """As conftest's ``http`` (x-api-key, 2023-06-01), built once."""
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as raw:
        yield raw


# --------------------------------------------------------------------------
# The SDK, end to end
# --------------------------------------------------------------------------


def test_create_through_the_sdk(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=300, messages=[{"role": "user", "content": PROMPT}])
    assert isinstance(message, anthropic.types.Message)
    assert message.id.startswith("msg_")
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert [b.type for b in message.content] == ["text"]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens < 300
    assert message._request_id and message._request_id.startswith("req_")


STREAM_CASES = {
    "plain": dict(messages=[{"role": "user", "content": PROMPT}]),
    "system": dict(system=[{"type": "text", "text": "You are terse."}], messages=[{"role": "user", "content": PROMPT}]),
    "max_tokens": dict(max_tokens=7, messages=[{"role": "user", "content": PROMPT}]),
    "stop_sequence": dict(stop_sequences=["tide"], messages=[{"role": "user", "content": PROMPT}]),
    "tool_any": dict(tools=TOOLS, tool_choice={"type": "any"}, messages=[{"role": "user", "content": PROMPT}]),
    "tool_named": dict(tools=TOOLS, messages=[{"role": "user", "content": "Call get_weather for Lisbon"}]),
    "thinking": dict(
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=TOOLS,
        messages=[{"role": "user", "content": "Use search_docs to look up tide pools"}],
    ),
    "adaptive_omitted": dict(thinking={"type": "adaptive", "display": "omitted"}, messages=[{"role": "user", "content": PROMPT}]),
}


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_final_message_equals_create(client: anthropic.Anthropic, case: str) -> None:
    request = {"model": MODEL, "max_tokens": 1024, **STREAM_CASES[case]}
    created = client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.id.startswith("msg_") and final.id != created.id
    assert without_id(final) == without_id(created)
    assert final.usage.output_tokens == created.usage.output_tokens > 0


def test_sdk_stream_text_and_events(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=300, messages=[{"role": "user", "content": PROMPT}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) == final.usage.output_tokens > 1  # one token per delta
    assert "".join(pieces) == final.content[0].text


def test_count_tokens_through_the_sdk(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": PROMPT}])
    assert isinstance(counted, anthropic.types.MessageTokensCount)
    created = client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": PROMPT}])
    assert counted.input_tokens == created.usage.input_tokens > 0


def test_sdk_errors_surface_as_sdk_exceptions(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="claude-nonexistent-9", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["error"]["message"] == "model: claude-nonexistent-9"
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.count_tokens(model=MODEL, messages=[])
    assert bad.value.body["error"]["message"] == "messages: List should have at least 1 item after validation, not 0"


# --------------------------------------------------------------------------
# The raw stream
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"max_tokens": 3},
        {"max_tokens": 0},
        {"thinking": {"type": "adaptive"}, "tools": TOOLS, "messages": [user("Call get_weather for Oslo")]},
        {"thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}, "max_tokens": 2048},
    ],
    ids=["text", "truncated", "max_tokens_0", "thinking_text_tool", "omitted"],
)
def test_raw_stream_follows_the_event_grammar(http: httpx.Client, extra: dict[str, Any]) -> None:
    request = body(**extra)
    events = raw_stream(http, request)
    streamed = fold(events)
    created = ok(http, request)
    assert without_id(streamed) == without_id(created)
    # message_delta carries the final, cumulative usage
    final = next(e for e in events if e["type"] == "message_delta")
    assert final["usage"]["output_tokens"] == created["usage"]["output_tokens"]
    assert final["usage"]["input_tokens"] == created["usage"]["input_tokens"]


def test_raw_stream_is_one_token_per_text_delta(http: httpx.Client) -> None:
    events = raw_stream(http, body())
    pieces = deltas(events, 0, "text_delta", "text")
    final = next(e for e in events if e["type"] == "message_delta")
    assert len(pieces) == final["usage"]["output_tokens"] > 5
    assert all(pieces)


def test_stream_under_the_sdk_version(base_url: str) -> None:
    """The same stream under today's SDK version and Bearer auth."""
    headers = {"authorization": "Bearer sk-ant-test", "anthropic-version": "2026-10-21"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as raw:
        events = raw_stream(raw, body())
    assert fold(events)["stop_reason"] == "end_turn"


# --------------------------------------------------------------------------
# count_tokens == usage.input_tokens
# --------------------------------------------------------------------------

COUNT_SHAPES: dict[str, dict[str, Any]] = {
    "string": {"messages": [user("Hello there")]},
    "system_string": {"system": "You are a marine biologist.", "messages": [user(PROMPT)]},
    "system_blocks": {
        "system": [
            {"type": "text", "text": "You are a marine biologist."},
            {"type": "text", "text": "Answer briefly.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [user(PROMPT)],
    },
    "tools": {"tools": TOOLS, "tool_choice": {"type": "auto"}, "messages": [user(PROMPT)]},
    "image": {
        "messages": [
            user(
                [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "text", "text": "What is in this image?"},
                ]
            )
        ]
    },
    "image_url": {
        "messages": [user([{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}, {"type": "text", "text": "Describe"}])]
    },
    "pdf": {
        "messages": [
            user(
                [
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
                    {"type": "text", "text": "Summarize the document."},
                ]
            )
        ]
    },
    "text_document": {
        "messages": [
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Tide pools are rocky pools by the sea."},
                        "title": "Tides",
                        "citations": {"enabled": True},
                    },
                    {"type": "text", "text": "Summarize."},
                ]
            )
        ]
    },
    "content_document": {
        "messages": [
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "content", "content": [{"type": "text", "text": "Anemones live in tide pools."}]},
                    },
                    {"type": "text", "text": "Summarize."},
                ]
            )
        ]
    },
    "tool_result": {
        "tools": TOOLS,
        "messages": [
            user("What's the weather in Paris?"),
            assistant([{"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}]),
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": [
                            {"type": "text", "text": "18 degrees and sunny"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                        ],
                    }
                ]
            ),
        ],
    },
    "search_result": {
        "messages": [
            user(
                [
                    {
                        "type": "search_result",
                        "source": "https://example.com/tides",
                        "title": "Tides",
                        "content": [{"type": "text", "text": "Tides rise twice a day."}],
                    },
                    {"type": "text", "text": "When do tides rise?"},
                ]
            )
        ]
    },
}


@pytest.mark.parametrize("shape", [*COUNT_SHAPES, "thinking_echo"])
def test_count_tokens_equals_input_tokens(http: httpx.Client, shape: str) -> None:
    if shape == "thinking_echo":
        first = body(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024})
        reply = ok(http, first)
        request = {
            **first,
            "messages": [user(PROMPT), assistant(reply["content"]), user("And the animals living there?")],
        }
    else:
        request = body(**COUNT_SHAPES[shape])
    counted = post(http, {k: v for k, v in request.items() if k != "max_tokens"}, "/v1/messages/count_tokens")
    assert counted.status_code == 200, counted.text
    assert set(counted.json()) == {"input_tokens"}
    created = ok(http, request)
    assert counted.json()["input_tokens"] == created["usage"]["input_tokens"] > 0


def test_count_tokens_grows_with_the_request(http: httpx.Client) -> None:
    def count(**extra: Any) -> int:
        request = body(**extra)
        del request["max_tokens"]
        return post(http, request, "/v1/messages/count_tokens").json()["input_tokens"]

    base = count()
    assert count(system="Be brief and precise in every answer.") > base
    assert count(tools=TOOLS) > base
    assert count(messages=[user(PROMPT), assistant("Tide pools are small."), user("More please")]) > base


def test_count_tokens_rejects_max_tokens(http: httpx.Client) -> None:
    message = error(post(http, body(), "/v1/messages/count_tokens"))
    assert message == "max_tokens: Extra inputs are not permitted"


# --------------------------------------------------------------------------
# The built-in model's answers
# --------------------------------------------------------------------------


def test_same_request_same_answer(http: httpx.Client) -> None:
    first, second = ok(http, body()), ok(http, body())
    assert first["id"] != second["id"]
    assert first["content"] == second["content"]
    assert first["usage"] == second["usage"]
    assert first["stop_reason"] == second["stop_reason"] == "end_turn"


def test_different_prompts_different_answers(http: httpx.Client) -> None:
    prompts = [PROMPT, "How do volcanoes erupt?", "Explain photosynthesis in plants", "What makes bread rise?"]
    texts = [text_of(ok(http, body(user(p)))) for p in prompts]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize(
    "prompt, salient",
    [
        (PROMPT, "tide"),
        ("How do volcanoes erupt?", "volcanoes"),
        ("Explain photosynthesis in plants", "photosynthesis"),
        ("What are context and detail?", "context"),  # the words the model also falls back on
        ("context detail", "context"),
    ],
)
def test_reply_is_plausible(http: httpx.Client, prompt: str, salient: str) -> None:
    message = ok(http, body(user(prompt)))
    text = text_of(message)
    assert message["stop_reason"] == "end_turn"
    assert 10 < message["usage"]["output_tokens"] < 200
    assert len(re.findall(r"[.!?](\s|$)", text)) >= 3
    assert salient in text.lower()
    assert "{" not in text and "}" not in text


def test_asking_for_an_essay_gives_a_longer_reply(http: httpx.Client) -> None:
    short = ok(http, body(user("Tell me about glaciers"), max_tokens=4000))
    long = ok(http, body(user("Write a detailed essay about glaciers"), max_tokens=4000))
    assert long["usage"]["output_tokens"] > 3 * short["usage"]["output_tokens"]
    assert long["stop_reason"] == "end_turn" and "glaciers" in text_of(long)


def test_system_prompt_alone_gives_the_topic(http: httpx.Client) -> None:
    message = ok(http, body(user([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]), system="Questions about lighthouses"))
    assert "lighthouses" in text_of(message)


# --------------------------------------------------------------------------
# max_tokens
# --------------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens", [1, 5, 17])
@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_cuts_the_reply(http: httpx.Client, max_tokens: int, stream: bool) -> None:
    request = body(max_tokens=max_tokens)
    message = fold(raw_stream(http, request)) if stream else ok(http, request)
    assert message["stop_reason"] == "max_tokens" and message["stop_sequence"] is None
    assert message["usage"]["output_tokens"] == max_tokens
    full = text_of(ok(http, body()))
    assert full.startswith(text_of(message)) and len(text_of(message)) < len(full)


def test_max_tokens_zero(http: httpx.Client) -> None:
    message = ok(http, body(max_tokens=0))
    assert message["content"] == [] and message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 0


@pytest.mark.parametrize("model, model_id, limit", [(MODEL, MODEL_ID, MODEL_MAX_TOKENS), ("claude-opus-4-8", "claude-opus-4-8", 128000)])
def test_max_tokens_above_the_model_limit(http: httpx.Client, model: str, model_id: str, limit: int) -> None:
    message = error(post(http, body(model=model, max_tokens=limit + 1)))
    assert message == (
        f"max_tokens: {limit + 1} > {limit}, which is the maximum allowed number of output tokens for {model_id}"
    )
    assert post(http, body(model=model, max_tokens=limit, stream=True)).status_code == 200


def test_negative_max_tokens(http: httpx.Client) -> None:
    assert error(post(http, body(max_tokens=-1))) == "max_tokens: Input should be greater than or equal to 0"


# --------------------------------------------------------------------------
# stop_sequences
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequence_cuts_before_the_match(http: httpx.Client, stream: bool) -> None:
    full = text_of(ok(http, body()))
    words = full.split()
    stop = words[len(words) // 2]
    request = body(stop_sequences=["zzz-not-there", stop])
    message = fold(raw_stream(http, request)) if stream else ok(http, request)
    assert message["stop_reason"] == "stop_sequence"
    assert message["stop_sequence"] == stop
    assert text_of(message) == full[: full.index(stop)]
    assert 0 < message["usage"]["output_tokens"] < ok(http, body())["usage"]["output_tokens"]


def test_earliest_stop_sequence_wins(http: httpx.Client) -> None:
    full = text_of(ok(http, body()))
    words = full.split()
    early, late = words[2], words[-2]
    message = ok(http, body(stop_sequences=[late, early]))
    assert message["stop_sequence"] == early
    assert text_of(message) == full[: full.index(early)]


def test_stop_sequence_not_in_reply(http: httpx.Client) -> None:
    message = ok(http, body(stop_sequences=["\n\nHuman:"]))
    assert message["stop_reason"] == "end_turn" and message["stop_sequence"] is None


def test_max_tokens_before_the_stop_sequence(http: httpx.Client) -> None:
    full = text_of(ok(http, body()))
    stop = full.split()[-2]
    message = ok(http, body(max_tokens=3, stop_sequences=[stop]))
    assert message["stop_reason"] == "max_tokens" and message["stop_sequence"] is None


# --------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------


def _tool_use(message: dict[str, Any]) -> dict[str, Any]:
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    assert len(uses) == 1, message
    block = uses[0]
    assert re.fullmatch(r"toolu_[A-Za-z0-9]{20,}", block["id"]), block["id"]
    jsonschema.validate(block["input"], TOOL_SCHEMAS[block["name"]])
    return block


@pytest.mark.parametrize("prompt", [PROMPT, "Anything new about volcanoes?", "Summarize the release notes"])
def test_tool_choice_any_calls_a_tool(http: httpx.Client, prompt: str) -> None:
    message = ok(http, body(user(prompt), tools=TOOLS, tool_choice={"type": "any"}))
    assert message["stop_reason"] == "tool_use"
    assert [b["type"] for b in message["content"]] == ["tool_use"]
    block = _tool_use(message)
    assert block["name"] in TOOL_SCHEMAS


@pytest.mark.parametrize("name", ["get_weather", "search_docs"])
def test_tool_choice_tool_keeps_the_name(client: anthropic.Anthropic, name: str) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": PROMPT}], tools=TOOLS, tool_choice={"type": "tool", "name": name}
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use" and block.name == name and block.id.startswith("toolu_")
    jsonschema.validate(block.input, TOOL_SCHEMAS[name])


def test_tool_choice_tool_not_in_tools(http: httpx.Client) -> None:
    response = post(http, body(tools=TOOLS, tool_choice={"type": "tool", "name": "nope"}))
    assert error(response).startswith("tool_choice:")


def test_tool_choice_without_tools(http: httpx.Client) -> None:
    message = error(post(http, body(tool_choice={"type": "any"})))
    assert message == "tool_choice: tool_choice may only be specified while providing tools"


def test_named_tool_is_called_after_a_preface(http: httpx.Client) -> None:
    request = body(user("What's the weather in Lisbon? Use get_weather please."), tools=TOOLS)
    message = ok(http, request)
    assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
    assert "get_weather" in message["content"][0]["text"]
    assert _tool_use(message)["name"] == "get_weather"
    assert message["stop_reason"] == "tool_use"

    events = raw_stream(http, request)
    starts = [(e["index"], e["content_block"]["type"]) for e in events if e["type"] == "content_block_start"]
    assert starts == [(0, "text"), (1, "tool_use")]
    tool_start = next(e["content_block"] for e in events if e["type"] == "content_block_start" and e["index"] == 1)
    assert tool_start["input"] == {} and tool_start["name"] == "get_weather"
    chunks = deltas(events, 1, "input_json_delta", "partial_json")
    assert len(chunks) > 2 and chunks[0] == ""
    assert json.loads("".join(chunks)) == message["content"][1]["input"]
    assert "".join(deltas(events, 0, "text_delta", "text")) == message["content"][0]["text"]
    streamed = fold(events)
    assert without_id(streamed) == without_id(message)


def test_tool_named_with_spaces_is_recognised(http: httpx.Client) -> None:
    message = ok(http, body(user("Could you run a search docs query for tides?"), tools=TOOLS))
    assert _tool_use(message)["name"] == "search_docs"


def test_auto_without_naming_a_tool_answers_in_text(http: httpx.Client) -> None:
    message = ok(http, body(tools=TOOLS, tool_choice={"type": "auto"}))
    assert [b["type"] for b in message["content"]] == ["text"]
    assert message["stop_reason"] == "end_turn"


def test_tool_choice_none_answers_in_text(http: httpx.Client) -> None:
    message = ok(http, body(user("Use get_weather for Paris"), tools=TOOLS, tool_choice={"type": "none"}))
    assert [b["type"] for b in message["content"]] == ["text"]
    assert message["stop_reason"] == "end_turn"


def test_empty_tools_with_auto(http: httpx.Client) -> None:
    message = ok(http, body(tools=[], tool_choice={"type": "auto"}))
    assert message["stop_reason"] == "end_turn"


def test_tool_round_trip(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "Please call get_weather for Reykjavik"}]
    first = client.messages.create(model=MODEL, max_tokens=1024, messages=messages, tools=TOOLS)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    messages += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Reykjavik: 4 degrees, light rain"}],
        },
    ]
    second = client.messages.create(model=MODEL, max_tokens=1024, messages=messages, tools=TOOLS)
    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text"]
    assert "4 degrees, light rain" in second.content[0].text
    assert "get_weather" in second.content[0].text


def test_tool_round_trip_with_error_and_block_content(http: httpx.Client) -> None:
    uses = [
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01B", "name": "search_docs", "input": {"query": "tides", "limit": 1, "filters": {"tags": ["a"]}}},
    ]
    results = [
        {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [{"type": "text", "text": "Tides follow the moon"}]},
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "service unavailable", "is_error": True},
    ]
    message = ok(http, body(user("weather and docs"), assistant(uses), user(results), tools=TOOLS))
    text = text_of(message)
    assert "Tides follow the moon" in text and "service unavailable" in text
    assert message["stop_reason"] == "end_turn"


TOOL_USE = {"type": "tool_use", "id": "toolu_01XFDUDYJgAACzvnptvVoYEL", "name": "get_weather", "input": {"city": "Paris"}}


def _result(tool_use_id: str = TOOL_USE["id"], content: Any = "sunny") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content}


def _missing(index: int, *ids: str) -> str:
    return (
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


@pytest.mark.parametrize(
    "messages, index",
    [
        ([user("hi"), assistant([TOOL_USE]), user("never mind")], 1),
        ([user("hi"), assistant("ok"), user("weather?"), assistant([{"type": "text", "text": "Checking."}, TOOL_USE]), user("hm")], 3),
        ([user("hi"), assistant([TOOL_USE])], 1),  # a prefill cannot end in a call
        ([user("hi"), assistant([TOOL_USE]), {"role": "system", "content": "Be brief."}, user("no result")], 1),
        ([user("hi"), assistant("one"), assistant([TOOL_USE]), user("two"), user("three")], 2),
        ([user("hi"), assistant([TOOL_USE]), assistant("More to say."), user("no result")], 1),
    ],
    ids=["next_turn", "later_turn", "final_assistant", "across_system", "merged_turns", "merged_call_first"],
)
def test_tool_use_without_its_result(http: httpx.Client, messages: list[dict[str, Any]], index: int) -> None:
    for request in (body(*messages, tools=TOOLS), body(*messages, tools=TOOLS, stream=True)):
        assert error(post(http, request)) == _missing(index, TOOL_USE["id"])
    counted = post(http, {"model": MODEL, "messages": messages, "tools": TOOLS}, "/v1/messages/count_tokens")
    assert error(counted) == _missing(index, TOOL_USE["id"])


def test_only_the_unanswered_ids_are_listed(http: httpx.Client) -> None:
    other = {**TOOL_USE, "id": "toolu_01Other"}
    third = {**TOOL_USE, "id": "toolu_01Third"}
    response = post(http, body(user("hi"), assistant([TOOL_USE, other, third]), user([_result()]), tools=TOOLS))
    assert error(response) == _missing(1, "toolu_01Other", "toolu_01Third")


def test_result_for_an_unknown_id(http: httpx.Client) -> None:
    response = post(http, body(user("hi"), assistant([TOOL_USE]), user([_result(), _result("toolu_01Bogus")]), tools=TOOLS))
    assert error(response) == (
        "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01Bogus. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
    )


def test_result_for_an_older_turn(http: httpx.Client) -> None:
    response = post(
        http,
        body(user("hi"), assistant([TOOL_USE]), user([_result()]), assistant("done"), user([_result()]), tools=TOOLS),
    )
    assert error(response).startswith("messages.4.content.0: unexpected `tool_use_id` found in `tool_result` blocks: ")


def test_result_without_any_call(http: httpx.Client) -> None:
    message = error(post(http, body(user([_result()]))))
    assert message.startswith("messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_")


@pytest.mark.parametrize(
    "messages",
    [
        # consecutive turns of one role are one turn
        [user("hi"), assistant([TOOL_USE]), assistant("Waiting for the tool."), user([_result()])],
        [user("hi"), assistant("Let me check."), assistant([TOOL_USE]), user([_result()])],
        [user("hi"), assistant([TOOL_USE, {**TOOL_USE, "id": "toolu_01B"}]), user([_result()]), user([_result("toolu_01B")])],
        [user("hi"), assistant([TOOL_USE]), user([_result()]), user("and thanks")],
        # a system message does not break the pairing
        [user("hi"), assistant([TOOL_USE]), {"role": "system", "content": "Tool output follows."}, user([_result()])],
    ],
    ids=["assistant_after_call", "assistant_before_call", "results_split", "user_after_result", "system_between"],
)
def test_tool_pairing_across_merged_turns(http: httpx.Client, messages: list[dict[str, Any]]) -> None:
    message = ok(http, body(*messages, tools=TOOLS))
    assert message["stop_reason"] == "end_turn"
    counted = post(http, {"model": MODEL, "messages": messages, "tools": TOOLS}, "/v1/messages/count_tokens")
    assert counted.json()["input_tokens"] == message["usage"]["input_tokens"]


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}],
        [{"type": "text", "text": "ok"}, {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}],
        [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "file body"}}],
        [{"type": "search_result", "source": "s", "title": "t", "content": [{"type": "text", "text": "found it"}]}],
        [],
    ],
    ids=["image", "image_url", "document", "search_result", "empty"],
)
def test_tool_result_content_shapes(http: httpx.Client, content: list[dict[str, Any]]) -> None:
    message = ok(http, body(user("hi"), assistant([TOOL_USE]), user([_result(content=content)]), tools=TOOLS))
    assert message["stop_reason"] == "end_turn" and text_of(message)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"x": {"type": "string", "pattern": "[a-z"}}, "required": ["x"]},
        {"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}, "required": ["a"]},
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}, "required": ["n"]},
        {"type": "object", "properties": {"a": {"not": {}}}, "required": ["a"]},
        {"type": "object", "$schema": "https://example.com/unknown-dialect", "properties": {}},
        {"type": "object", "properties": {"a": {"type": "array", "items": {"$ref": "#"}}}, "required": ["a"]},
        {"type": "object", "x-vendor": {"anything": [1, 2]}, "properties": {"a": {"type": "string", "format": "hostname"}}},
        {"type": "object", "additionalProperties": False, "minProperties": 3},
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_odd_input_schemas_never_fail_the_request(http: httpx.Client, schema: dict[str, Any], stream: bool) -> None:
    request = body(tools=[{"name": "odd", "input_schema": schema}], tool_choice={"type": "any"})
    message = fold(raw_stream(http, request)) if stream else ok(http, request)
    assert message["stop_reason"] == "tool_use"
    assert isinstance(message["content"][-1]["input"], dict)


# --------------------------------------------------------------------------
# Thinking
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thinking",
    [{"type": "enabled", "budget_tokens": 1024}, {"type": "enabled", "budget_tokens": 3000}, {"type": "adaptive"}],
    ids=["enabled_1024", "enabled_3000", "adaptive"],
)
def test_thinking_block_comes_first(client: anthropic.Anthropic, thinking: dict[str, Any]) -> None:
    message = client.messages.create(model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": PROMPT}], thinking=thinking)
    assert [b.type for b in message.content] == ["thinking", "text"]
    block = message.content[0]
    assert "tide pools" in block.thinking and block.signature
    assert message.stop_reason == "end_turn"


def test_thinking_omitted(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": PROMPT}],
        thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
    )
    block = message.content[0]
    assert block.type == "thinking" and block.thinking == "" and block.signature
    shown = client.messages.create(
        model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": PROMPT}], thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert message.usage.output_tokens == shown.usage.output_tokens  # still thought, and billed
    assert block.signature != shown.content[0].signature


def test_omitted_thinking_streams_only_a_signature(http: httpx.Client) -> None:
    events = raw_stream(http, body(thinking={"type": "adaptive", "display": "omitted"}))
    assert deltas(events, 0, "thinking_delta", "thinking") == []
    (signature,) = deltas(events, 0, "signature_delta", "signature")
    assert signature


def test_sdk_stream_accumulates_thinking(client: anthropic.Anthropic, http: httpx.Client) -> None:
    request = dict(model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": PROMPT}], thinking={"type": "enabled", "budget_tokens": 1024})
    with client.messages.stream(**request) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds and "text" in kinds
    events = raw_stream(http, request)
    pieces = deltas(events, 0, "thinking_delta", "thinking")
    (signature,) = deltas(events, 0, "signature_delta", "signature")
    assert len(pieces) > 5
    assert final.content[0].thinking == "".join(pieces)
    assert final.content[0].signature == signature
    # one token per delta, and thinking is billed as output
    assert len(pieces) + len(deltas(events, 1, "text_delta", "text")) == final.usage.output_tokens


def test_thinking_turn_echoed_back(client: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    messages: list[Any] = [{"role": "user", "content": "Please call get_weather for Nairobi"}]
    first = client.messages.create(model=MODEL, max_tokens=4000, messages=messages, tools=TOOLS, thinking=thinking)
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    call = first.content[2]
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "22 degrees"}]},
    ]
    second = client.messages.create(model=MODEL, max_tokens=4000, messages=messages, tools=TOOLS, thinking=thinking)
    assert [b.type for b in second.content] == ["thinking", "text"]
    assert "22 degrees" in second.content[1].text
    messages += [{"role": "assistant", "content": second.content}, {"role": "user", "content": "Thanks! And tomorrow?"}]
    third = client.messages.create(model=MODEL, max_tokens=4000, messages=messages, tools=TOOLS, thinking=thinking)
    assert third.stop_reason in ("end_turn", "tool_use")


def _signed_turn(http: httpx.Client, **thinking: Any) -> list[dict[str, Any]]:
    reply = ok(http, body(max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024, **thinking}))
    return reply["content"]


def _tampered(content: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    block = dict(content[0])
    if field == "thinking":
        block["thinking"] = block["thinking"].replace("tide", "tidal") if block["thinking"] else "I made this up."
    else:
        raw = bytearray(base64.b64decode(block["signature"]))
        raw[-1] ^= 1
        block["signature"] = base64.b64encode(bytes(raw)).decode()
    return [block, *content[1:]]


@pytest.mark.parametrize("field", ["thinking", "signature"])
@pytest.mark.parametrize("display", ["summarized", "omitted"])
def test_altered_thinking_is_refused(http: httpx.Client, field: str, display: str) -> None:
    content = _signed_turn(http, display=display)
    assert content[0]["type"] == "thinking"
    good = body(user(PROMPT), assistant(content), user("Go on"), max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024})
    assert post(http, good).status_code == 200
    bad = {**good, "messages": [user(PROMPT), assistant(_tampered(content, field)), user("Go on")]}
    assert error(post(http, bad)) == "messages.1.content.0: Invalid `signature` in `thinking` block"
    assert error(post(http, {**bad, "stream": True})) == "messages.1.content.0: Invalid `signature` in `thinking` block"


def test_altered_thinking_is_located(http: httpx.Client) -> None:
    content = _signed_turn(http)
    later = [user("hi"), assistant("hello"), user(PROMPT), assistant([{"type": "text", "text": "First:"}, *_tampered(content, "signature")]), user("more")]
    assert error(post(http, body(*later))) == "messages.3.content.1: Invalid `signature` in `thinking` block"


def test_thinking_signature_vouches_for_its_display(http: httpx.Client) -> None:
    omitted = _signed_turn(http, display="omitted")
    shown = _signed_turn(http)
    # the omitted block's signature does not vouch for the text shown elsewhere
    swapped = [{**omitted[0], "thinking": shown[0]["thinking"]}, *omitted[1:]]
    assert error(post(http, body(user(PROMPT), assistant(swapped), user("Go on")))) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


@pytest.mark.parametrize("budget, max_tokens", [(1024, 1024), (2000, 1500)])
def test_thinking_budget_must_be_below_max_tokens(http: httpx.Client, budget: int, max_tokens: int) -> None:
    response = post(http, body(max_tokens=max_tokens, thinking={"type": "enabled", "budget_tokens": budget}))
    assert error(response) == (
        "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
    )


def test_thinking_budget_minimum(http: httpx.Client) -> None:
    response = post(http, body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1023}))
    assert error(response) == "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 1024}, {"type": "adaptive"}])
@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_thinking_with_forced_tool_use_is_refused(http: httpx.Client, thinking: dict[str, Any], choice: dict[str, Any]) -> None:
    response = post(http, body(max_tokens=2048, thinking=thinking, tools=TOOLS, tool_choice=choice))
    assert error(response) == "Thinking may not be enabled when tool_choice forces tool use."
    allowed = ok(http, body(max_tokens=2048, thinking=thinking, tools=TOOLS, tool_choice={"type": "auto"}))
    assert allowed["content"][0]["type"] == "thinking"


def test_thinking_disabled(http: httpx.Client) -> None:
    message = ok(http, body(thinking={"type": "disabled"}))
    assert [b["type"] for b in message["content"]] == ["text"]


# --------------------------------------------------------------------------
# A Claude Code session
# --------------------------------------------------------------------------

CC_TOOLS = [{"name": n, "description": f"The {n} tool.", "input_schema": tool_schema(n)} for n in TOOL_NAMES]
CC_HEADERS = {
    "anthropic-beta": ",".join(
        [
            "claude-code-20250219", "context-1m-2025-08-07", "interleaved-thinking-2025-05-14",
            "context-management-2025-06-27", "prompt-caching-scope-2026-01-05",
            "mid-conversation-system-2026-04-07", "effort-2025-11-24", "thinking-token-count-2026-05-13",
        ]
    ),
    "x-app": "cli",
    "anthropic-dangerous-direct-browser-access": "true",
    "user-agent": "claude-cli/2.1.197 (external, cli)",
}


def _cc_request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": "claude-opus-4-8",
        "messages": messages,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=cli;"},
            {"type": "text", "text": "You are Claude Code, a CLI for coding.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Environment: linux, git repo.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ],
        "tools": CC_TOOLS,
        "metadata": {"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": "0b8f6a52-8b4e-4c1a-9f0e-2d3c4b5a6978"})},
        "max_tokens": 32000,
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "stream": True,
    }


def test_claude_code_session(http: httpx.Client) -> None:
    assert len(CC_TOOLS) == 24
    first_user = user(
        [
            {"type": "text", "text": "<system-reminder>Project context.</system-reminder>"},
            {"type": "text", "text": "Run the test suite with the Bash tool", "cache_control": {"type": "ephemeral"}},
        ]
    )
    messages = [
        user("hello"),
        assistant("Hi! What should we work on?"),
        {"role": "system", "content": "The user switched to plan mode and back."},
        first_user,
    ]
    events = raw_stream(http, _cc_request(messages), params={"beta": "true"}, headers=CC_HEADERS)
    turn = fold(events)
    assert [b["type"] for b in turn["content"]] == ["thinking", "text", "tool_use"]
    assert turn["stop_reason"] == "tool_use"
    call = turn["content"][2]
    assert call["name"] == "Bash"
    jsonschema.validate(call["input"], tool_schema("Bash"))
    assert turn["usage"]["input_tokens"] > 500  # 24 tool schemas are not free

    echoed = [{k: v for k, v in block.items() if v is not None} for block in turn["content"]]
    messages += [
        assistant(echoed),
        user(
            [
                {
                    "type": "tool_result",
                    "tool_use_id": call["id"],
                    "content": "42 passed in 1.2s",
                    "cache_control": {"type": "ephemeral"},
                }
            ]
        ),
    ]
    events = raw_stream(http, _cc_request(messages), params={"beta": "true"}, headers=CC_HEADERS)
    answer = fold(events)
    assert answer["stop_reason"] == "end_turn"
    assert [b["type"] for b in answer["content"]] == ["thinking", "text"]
    assert "42 passed" in answer["content"][1]["text"]


def test_claude_code_altered_thinking_is_refused_before_the_stream(http: httpx.Client) -> None:
    messages = [user("Run the tests with the Bash tool")]
    turn = fold(raw_stream(http, _cc_request(messages), params={"beta": "true"}, headers=CC_HEADERS))
    thinking = {**turn["content"][0], "thinking": turn["content"][0]["thinking"] + " Also delete everything."}
    call = turn["content"][2]
    messages += [assistant([thinking, *turn["content"][1:]]), user([_result(call["id"], "ok")])]
    response = http.post("/v1/messages", json=_cc_request(messages), params={"beta": "true"}, headers=CC_HEADERS)
    assert error(response) == "messages.1.content.0: Invalid `signature` in `thinking` block"


# --------------------------------------------------------------------------
# Conversation rules
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages, expected",
    [
        ([], "messages: List should have at least 1 item after validation, not 0"),
        ([user([])], "messages.0: all messages must have non-empty content except for the optional final assistant message"),
        ([user("hi"), assistant([]), user("again")], "messages.1: all messages must have non-empty content except for the optional final assistant message"),
        ([user([{"type": "text", "text": " \n\t"}])], "messages: text content blocks must contain non-whitespace text"),
        ([user("   ")], "messages: text content blocks must contain non-whitespace text"),
        ([user([{"type": "text", "text": ""}])], "messages: text content blocks must be non-empty"),
        ([user("hi"), assistant("Sure, ")], "messages: final assistant content cannot end with trailing whitespace"),
        ([user("hi"), assistant([{"type": "text", "text": "Sure\n"}])], "messages: final assistant content cannot end with trailing whitespace"),
    ],
    ids=["empty_list", "empty_user", "empty_middle_assistant", "whitespace_block", "whitespace_string", "empty_text", "prefill_space", "prefill_newline"],
)
def test_conversation_rules(http: httpx.Client, messages: list[dict[str, Any]], expected: str) -> None:
    assert error(post(http, body(*messages) if messages else {**body(), "messages": []})) == expected
    counted = post(http, {"model": MODEL, "messages": messages}, "/v1/messages/count_tokens")
    assert error(counted) == expected


def test_prefill_continues(http: httpx.Client) -> None:
    message = ok(http, body(user(PROMPT), assistant("Sure")))
    text = text_of(message)
    assert message["stop_reason"] == "end_turn"
    assert text.startswith(" ") and not text.startswith("  ")  # continues "Sure"
    assert "tide pools" in text
    events = raw_stream(http, body(user(PROMPT), assistant("Sure")))
    assert without_id(fold(events)) == without_id(message)


def test_final_assistant_may_be_empty_or_whitespace_only_in_the_middle(http: httpx.Client) -> None:
    assert ok(http, body(user(PROMPT), assistant([])))["stop_reason"] == "end_turn"
    assert ok(http, body(user(PROMPT), assistant([{"type": "text", "text": "Fine"}])))["stop_reason"] == "end_turn"


def test_consecutive_same_role_turns(http: httpx.Client) -> None:
    message = ok(http, body(user("hi"), user(PROMPT), assistant("Tide pools"), assistant("are small."), user("More?")))
    assert message["stop_reason"] == "end_turn"
    assert ok(http, body(assistant("I start."), user(PROMPT)))["stop_reason"] == "end_turn"


def test_system_role_messages(http: httpx.Client) -> None:
    message = ok(http, body(user("hi"), assistant("Hello."), {"role": "system", "content": "Speak about tide pools."}, user(PROMPT)))
    assert "tide pools" in text_of(message)
    blocks = ok(http, body({"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, user(PROMPT)))
    assert blocks["stop_reason"] == "end_turn"


@pytest.mark.parametrize("params", [{"temperature": 0}, {"temperature": 1}, {"top_p": 0.9}, {"top_k": 40}, {"temperature": 0.3, "top_p": 1, "top_k": 0}])
def test_sampling_parameters_accepted(http: httpx.Client, params: dict[str, Any]) -> None:
    plain = ok(http, body())
    message = ok(http, body(**params))
    assert message["content"] == plain["content"]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"temperature": 1.01}, "temperature: Input should be less than or equal to 1"),
        ({"temperature": -0.5}, "temperature: Input should be greater than or equal to 0"),
        ({"top_p": 1.5}, "top_p: Input should be less than or equal to 1"),
        ({"top_p": -0.1}, "top_p: Input should be greater than or equal to 0"),
        ({"top_k": -1}, "top_k: Input should be greater than or equal to 0"),
    ],
)
def test_sampling_parameters_range_checked(http: httpx.Client, params: dict[str, Any], expected: str) -> None:
    assert error(post(http, body(**params))) == expected


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_unknown_model(http: httpx.Client, path: str) -> None:
    request = body(model="claude-sonnet-9-9")
    if path.endswith("count_tokens"):
        del request["max_tokens"]
    assert error(post(http, request, path), 404, "not_found_error") == "model: claude-sonnet-9-9"


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-opus-4-8", "claude-sonnet-4-5", "claude-opus-4-5"])
def test_model_ids_and_aliases(http: httpx.Client, model: str) -> None:
    message = ok(http, body(model=model))
    assert message["model"] == model


def test_tool_names_checked(http: httpx.Client) -> None:
    response = post(http, body(tools=[{"name": "has space", "input_schema": {"type": "object"}}]))
    assert error(response) == "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
    duplicate = post(http, body(tools=[WEATHER, WEATHER]))
    assert error(duplicate) == "tools: Tool names must be unique."


# --------------------------------------------------------------------------
# Content blocks
# --------------------------------------------------------------------------

CONTENT = {
    "image_base64": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}, {"type": "text", "text": "What is this?"}],
    "image_url": [{"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}],
    "pdf_base64": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}, "title": "Report"}, {"type": "text", "text": "Summarize"}],
    "pdf_url": [{"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}, {"type": "text", "text": "Summarize"}],
    "text_document": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Kelp forests shelter fish."}, "context": "notes"}],
    "content_document": [{"type": "document", "source": {"type": "content", "content": "Kelp forests shelter fish."}}],
    "search_result": [
        {"type": "search_result", "source": "https://example.com/kelp", "title": "Kelp", "content": [{"type": "text", "text": "Kelp grows fast."}], "citations": {"enabled": True}},
        {"type": "text", "text": "How fast does kelp grow?"},
    ],
    "cache_control": [{"type": "text", "text": PROMPT, "cache_control": {"type": "ephemeral", "ttl": "5m"}}],
}


@pytest.mark.parametrize("kind", CONTENT)
def test_content_blocks_accepted(client: anthropic.Anthropic, kind: str) -> None:
    message = client.messages.create(model=MODEL, max_tokens=500, messages=[{"role": "user", "content": CONTENT[kind]}])
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": CONTENT[kind]}])
    assert counted.input_tokens == message.usage.input_tokens


def test_images_cost_tokens(http: httpx.Client) -> None:
    with_image = ok(http, body(user(CONTENT["image_base64"])))
    without = ok(http, body(user("What is this?")))
    assert with_image["usage"]["input_tokens"] - without["usage"]["input_tokens"] >= 85


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_beta_query_accepted(http: httpx.Client, path: str) -> None:
    request = body() if path == "/v1/messages" else {"model": MODEL, "messages": [user(PROMPT)]}
    response = http.post(path, json=request, params={"beta": "true"}, headers={"anthropic-beta": "token-counting-2024-11-01"})
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------
# Folding a stream into a Message, as the SDK does
# --------------------------------------------------------------------------


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
