"""End to end: the official SDK -> Dateline (openai backend) -> llama-cpp-python's
real OpenAI-compatible server, on a tiny random-weight model (tests/llama.py).

The model's text is random: the tests assert the structure of what comes
back (a valid Message, a valid event stream, tool calls the grammar shaped),
not what it says. llama-cpp-python answers one request at a time, so replies
are kept short.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from claude_code import TOOL_NAMES, tool_schema
from conftest import sse_events
from llama import LlamaServer

from dateline.backends.openai import OpenAIBackend
from dateline.testing import DatelineServer
from dateline.thinking import Signer
from dateline.upstream import Clients, Pool, Target, Upstream

MODEL = "claude-sonnet-5"

WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
}
FORCE_WEATHER = {"type": "tool", "name": "get_weather"}
#: Enough for the grammar-forced JSON to close by itself (it takes ~40 tokens; ~5% of a string's characters close it).
TOOL_MAX_TOKENS = 256

CC_BETAS = [
    "claude-code-20250219", "context-1m-2025-08-07", "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27", "prompt-caching-scope-2026-01-05",
    "mid-conversation-system-2026-04-07", "effort-2025-11-24", "thinking-token-count-2026-05-13",
]  # fmt: skip
CC_HEADERS = {
    "x-api-key": "sk-ant-test",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": ",".join(CC_BETAS),
    "x-app": "cli",
    "anthropic-dangerous-direct-browser-access": "true",
    "user-agent": "claude-cli/2.1.197 (external, cli)",
}
CC_TOOLS = [{"name": n, "description": f"The {n} tool.", "input_schema": tool_schema(n)} for n in TOOL_NAMES]


@pytest.fixture(scope="module")
def dateline(llama_server: LlamaServer) -> Iterator[DatelineServer]:
    upstream = Upstream(name="llama", kind="openai", base_url=llama_server.base_url, timeout=60)
    backend = OpenAIBackend(Pool([Target(upstream, llama_server.model)]), Clients(), Signer("test-signing-key"))
    with DatelineServer(backend=backend, signing_key="test-signing-key") as running:
        yield running


@pytest.fixture
def client(dateline: DatelineServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=dateline.base_url, api_key="k", max_retries=0, timeout=120, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
def http(dateline: DatelineServer) -> Iterator[httpx.Client]:
    """Raw HTTP, as Claude Code sends it."""
    with httpx.Client(base_url=dateline.base_url, headers=CC_HEADERS, timeout=120) as raw:
        yield raw


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "redacted_thinking": set(),
}


def check_events(events: list[dict[str, Any]]) -> None:
    """The order the API (and every client) relies on."""
    names = [e["type"] for e in events]
    assert names[0] == "message_start", names
    assert names[-2:] == ["message_delta", "message_stop"], names
    assert names.count("message_start") == names.count("message_delta") == names.count("message_stop") == 1, names
    open_block: dict[str, Any] | None = None
    index = 0
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "ping":
            continue
        if kind == "content_block_start":
            assert open_block is None, f"block {event['index']} opened before the last one closed: {names}"
            assert event["index"] == index, names
            open_block = event["content_block"]
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == index, f"delta outside its block: {names}"
            assert event["delta"]["type"] in DELTAS[open_block["type"]], (open_block, event)
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == index, names
            open_block, index = None, index + 1
        else:
            raise AssertionError(f"unexpected event {kind!r} inside the message: {names}")
    assert open_block is None, names
    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None, start
    assert start["usage"]["input_tokens"] > 0, start["usage"]
    delta = events[-2]
    assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence", "tool_use"), delta
    assert delta["usage"]["output_tokens"] > 0, delta


def fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The Message a stream of (checked) events describes."""
    message = json.loads(json.dumps(events[0]["message"]))
    partial: dict[int, str] = {}
    for event in events[1:]:
        kind = event["type"]
        if kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
        elif kind == "content_block_stop" and event["index"] in partial:
            message["content"][event["index"]]["input"] = json.loads(partial.pop(event["index"]) or "{}")
        elif kind == "message_delta":
            message.update(event["delta"])
            message["usage"].update({k: v for k, v in event["usage"].items() if v is not None})
    return message


def check_message(message: dict[str, Any], *, model: str = MODEL) -> None:
    assert message["type"] == "message" and message["role"] == "assistant", message
    assert message["id"].startswith("msg_"), message["id"]
    assert message["model"] == model, message["model"]
    assert message["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence", "tool_use"), message
    usage = message["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0, usage
    assert message["content"], message
    for block in message["content"]:
        if block["type"] == "text":
            assert isinstance(block["text"], str) and block["text"], block
        elif block["type"] == "tool_use":
            assert block["id"].startswith("toolu_") and isinstance(block["input"], dict), block
        elif block["type"] == "thinking":
            assert isinstance(block["thinking"], str) and block["signature"], block
        else:
            raise AssertionError(f"unexpected block {block['type']!r}")


def close(counted: int, used: int, share: float = 0.05) -> bool:
    """Counts the backend makes from its own rendering of the conversation (the
    chat template differs) are off by a little."""
    return abs(counted - used) <= max(4, used * share)


def raw_stream(http: httpx.Client, body: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """A streamed request's events, each checked to be framed as the API frames it."""
    with http.stream("POST", "/v1/messages", json={**body, "stream": True}, **kwargs) as response:
        text = response.read().decode()
        assert response.status_code == 200, text
        assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    events = []
    for name, data in sse_events(text):
        assert data is not None, text
        event = json.loads(data)
        assert name == event["type"], (name, data)
        events.append(event)
    check_events(events)
    return events


def sdk_stream(stream: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The raw events the SDK saw and the Message it accumulated from them."""
    with stream as s:
        events = [event.model_dump() for event in s if event.type in RAW_EVENTS]
        final = s.get_final_message().model_dump()
    check_events(events)
    return events, final


RAW_EVENTS = {
    "message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta",
    "content_block_stop", "ping",
}  # fmt: skip


def same_message(folded: dict[str, Any], final: dict[str, Any]) -> None:
    """What the SDK accumulated is what the events say (compared on what both carry)."""
    for key in ("id", "model", "role", "stop_reason", "stop_sequence"):
        assert final[key] == folded[key], key
    assert final["usage"]["input_tokens"] == folded["usage"]["input_tokens"]
    assert final["usage"]["output_tokens"] == folded["usage"]["output_tokens"]
    assert len(final["content"]) == len(folded["content"])
    for mine, theirs in zip(folded["content"], final["content"]):
        assert {k: v for k, v in theirs.items() if k in mine} == mine


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def echo(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An answer's blocks as a client sends them back (no nulls)."""
    return [{k: v for k, v in block.items() if v is not None} for block in content]


# --------------------------------------------------------------------------
# Plain messages
# --------------------------------------------------------------------------


def test_message(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=32, system="You are terse.", messages=[user("Say hello to the tide pools.")]
    )
    body = message.model_dump()
    check_message(body)
    assert [b["type"] for b in body["content"]] == ["text"]
    assert body["stop_reason"] in ("end_turn", "max_tokens")


def test_stream_on_the_wire(dateline: DatelineServer) -> None:
    """As today's SDKs send it (Bearer, 2026-10-21): every event framed and in order."""
    headers = {"authorization": "Bearer k", "anthropic-version": "2026-10-21"}
    with httpx.Client(base_url=dateline.base_url, headers=headers, timeout=120) as raw:
        events = raw_stream(raw, {"model": MODEL, "max_tokens": 32, "messages": [user("Tell me about kelp.")]})
    message = fold(events)
    check_message(message)
    assert [b["type"] for b in message["content"]] == ["text"]
    assert message["stop_reason"] in ("end_turn", "max_tokens")


def test_message_start_counts_the_input_exactly_once_the_upstream_is_known(dateline: DatelineServer) -> None:
    """llama-cpp-python streams no usage: after the first stream shows that,
    the input is counted before streaming, so message_start already has it."""
    body = {"model": MODEL, "max_tokens": 8, "messages": [user("Tell me about anemones, " * 20)]}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=dateline.base_url, headers=headers, timeout=120) as raw:
        raw_stream(raw, body)  # teaches Dateline that this upstream streams no usage
        events = raw_stream(raw, body)
        counted = raw.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": body["messages"]})
    start, final = events[0]["message"]["usage"]["input_tokens"], events[-2]["usage"]["input_tokens"]
    assert start == final == counted.json()["input_tokens"], (start, final, counted.json())


def test_sdk_stream_accumulates_the_events(client: anthropic.Anthropic) -> None:
    stream = client.messages.stream(model=MODEL, max_tokens=32, messages=[user("Tell me about sea otters.")])
    events, final = sdk_stream(stream)
    folded = fold(events)
    check_message(folded)
    same_message(folded, final)
    assert final["content"][0]["text"] == "".join(
        e["delta"]["text"] for e in events if e["type"] == "content_block_delta"
    )


def test_non_streamed_and_streamed_usage_agree_on_input(client: anthropic.Anthropic) -> None:
    """The API reports the same input_tokens either way (clients budget context and cost on it)."""
    request = {"model": MODEL, "max_tokens": 16, "messages": [user("Count the waves.")]}
    message = client.messages.create(**request)
    _, final = sdk_stream(client.messages.stream(**request))
    assert close(final["usage"]["input_tokens"], message.usage.input_tokens), (final["usage"], message.usage)


# --------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------


def test_forced_tool_use(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=TOOL_MAX_TOKENS,
        tools=[WEATHER],
        tool_choice=FORCE_WEATHER,
        messages=[user("What is the weather in Paris?")],
    )
    body = message.model_dump()
    check_message(body)
    assert body["stop_reason"] == "tool_use"
    calls = [b for b in body["content"] if b["type"] == "tool_use"]
    assert len(calls) == 1 and body["content"][-1] is calls[0], body["content"]
    assert calls[0]["name"] == "get_weather"
    jsonschema.validate(calls[0]["input"], WEATHER["input_schema"])


def test_forced_tool_use_streamed(client: anthropic.Anthropic) -> None:
    stream = client.messages.stream(
        model=MODEL,
        max_tokens=TOOL_MAX_TOKENS,
        tools=[WEATHER],
        tool_choice=FORCE_WEATHER,
        messages=[user("And in Lisbon?")],
    )
    events, final = sdk_stream(stream)
    folded = fold(events)
    check_message(folded)
    same_message(folded, final)
    assert final["stop_reason"] == "tool_use"
    starts = [e for e in events if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"]
    assert len(starts) == 1, events
    block = starts[0]["content_block"]
    assert block["name"] == "get_weather" and block["input"] == {} and block["id"].startswith("toolu_"), block
    pieces = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["index"] == starts[0]["index"]
    ]
    assert pieces  # input_json_delta each (check_events)
    call = final["content"][starts[0]["index"]]
    assert call["input"] == json.loads("".join(pieces))
    jsonschema.validate(call["input"], WEATHER["input_schema"])


def test_tool_result_round_trip(client: anthropic.Anthropic) -> None:
    question = user("What is the weather in Oslo?")
    first = client.messages.create(
        model=MODEL, max_tokens=TOOL_MAX_TOKENS, tools=[WEATHER], tool_choice=FORCE_WEATHER, messages=[question]
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "4 degrees, light rain"}
    answer = client.messages.create(
        model=MODEL,
        max_tokens=32,
        tools=[WEATHER],
        messages=[question, assistant(echo([b.model_dump() for b in first.content])), user([result])],
    )
    body = answer.model_dump()
    check_message(body)
    assert body["stop_reason"] in ("end_turn", "max_tokens")
    assert [b["type"] for b in body["content"]] == ["text"]


def test_tool_result_round_trip_streamed_with_error_result(client: anthropic.Anthropic) -> None:
    """A tool_result with is_error and a list of text blocks, answered as a stream."""
    question = user("What is the weather in Quito?")
    first = client.messages.create(
        model=MODEL, max_tokens=TOOL_MAX_TOKENS, tools=[WEATHER], tool_choice=FORCE_WEATHER, messages=[question]
    )
    call = next(b for b in first.content if b.type == "tool_use")
    result = {
        "type": "tool_result",
        "tool_use_id": call.id,
        "is_error": True,
        "content": [{"type": "text", "text": "the weather service is down"}],
    }
    messages = [question, assistant(echo([b.model_dump() for b in first.content])), user([result])]
    events, final = sdk_stream(client.messages.stream(model=MODEL, max_tokens=32, tools=[WEATHER], messages=messages))
    folded = fold(events)
    check_message(folded)
    same_message(folded, final)


# --------------------------------------------------------------------------
# A Claude Code request
# --------------------------------------------------------------------------


def cc_request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": "claude-opus-4-8",
        "messages": messages,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=cli;"},
            {"type": "text", "text": "You are Claude Code, a CLI for coding.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {
                "type": "text",
                "text": "Environment: linux, git repo.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
        ],
        "tools": CC_TOOLS,
        "metadata": {
            "user_id": json.dumps(
                {"device_id": "d" * 64, "account_uuid": "", "session_id": "0b8f6a52-8b4e-4c1a-9f0e-2d3c4b5a6978"}
            )
        },
        "max_tokens": 32000,
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "stream": True,
    }


CC_HISTORY = [
    user("hello"),
    assistant("Hi! What should we work on?"),
    {"role": "system", "content": "The user switched to plan mode and back."},
    user(
        [
            {"type": "text", "text": "<system-reminder>Project context.</system-reminder>"},
            {"type": "text", "text": "Run the test suite with the Bash tool", "cache_control": {"type": "ephemeral"}},
        ]
    ),
]


def test_claude_code_session(http: httpx.Client) -> None:
    assert len(CC_TOOLS) >= 20
    events = raw_stream(http, cc_request(CC_HISTORY), params={"beta": "true"})
    turn = fold(events)
    check_message(turn, model="claude-opus-4-8")
    assert turn["usage"]["input_tokens"] > 0

    # The next request sends the whole turn back (thinking with its signature,
    # text, tool calls) with an answer to each tool call; then a turn of
    # Claude Code's own: a Bash call answered, with cache_control on the result.
    calls = [b for b in turn["content"] if b["type"] == "tool_use"]
    results = [{"type": "tool_result", "tool_use_id": c["id"], "content": "ok"} for c in calls]
    bash = {"type": "tool_use", "id": "toolu_01Bash", "name": "Bash", "input": {"command": "pytest -q"}}
    messages = [
        *CC_HISTORY,
        assistant(echo(turn["content"])),
        user([*results, {"type": "text", "text": "Now run them again."}]),
        assistant([{"type": "text", "text": "Running the tests."}, bash]),
        user(
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Bash",
                    "content": "42 passed in 1.2s",
                    "cache_control": {"type": "ephemeral"},
                }
            ]
        ),
    ]
    answer = fold(raw_stream(http, cc_request(messages), params={"beta": "true"}))
    check_message(answer, model="claude-opus-4-8")


def test_claude_code_request_accumulated_by_the_sdk(client: anthropic.Anthropic) -> None:
    body = cc_request(CC_HISTORY)
    del body["stream"]
    stream = client.beta.messages.stream(
        **body,
        betas=CC_BETAS,
        extra_headers={"x-app": "cli", "anthropic-dangerous-direct-browser-access": "true"},
        extra_query={"beta": "true"},
    )
    events, final = sdk_stream(stream)
    folded = fold(events)
    check_message(folded, model="claude-opus-4-8")
    same_message(folded, final)


# --------------------------------------------------------------------------
# Token counting and stop sequences
# --------------------------------------------------------------------------


def test_count_tokens_matches_the_messages_input(client: anthropic.Anthropic) -> None:
    request = {
        "model": MODEL,
        "system": "You are terse.",
        "messages": [user("How deep is the Mariana Trench?"), assistant("Very deep."), user("In metres?")],
    }
    counted = client.messages.count_tokens(**request).input_tokens
    used = client.messages.create(max_tokens=8, **request).usage.input_tokens
    assert counted > 0 and close(counted, used), (counted, used)


def test_count_tokens_with_tools_matches_the_messages_input(client: anthropic.Anthropic) -> None:
    request = {"model": MODEL, "tools": CC_TOOLS, "messages": [user("List the files.")]}
    counted = client.messages.count_tokens(**request).input_tokens
    used = client.messages.create(max_tokens=8, **request).usage.input_tokens
    assert used > 1000  # the template shows the model every tool
    # Tools are rendered as the template likes (here: OpenAI's JSON, wrapper and all).
    assert close(counted, used, 0.1), (counted, used)


def test_count_tokens_uses_the_upstream_tokenizer(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=[user("Hi")]).input_tokens
    longer = client.messages.count_tokens(model=MODEL, messages=[user("Hi " * 200)]).input_tokens
    # The tiny model's vocabulary has no token for "Hi" or " H": three tokens a
    # repetition, where an estimate for English text would say about one.
    assert longer - short >= 500, (short, longer)


def test_stop_sequence(dateline: DatelineServer) -> None:
    """At temperature 0 the model says the same thing twice: stop it inside a probe's text."""
    # `temperature` is gone from 2026-10-21; a client pinned to 2023-06-01 still sends it, and it reaches the upstream.
    client = anthropic.Anthropic(
        base_url=dateline.base_url, api_key="k", max_retries=0, timeout=120,
        default_headers={"anthropic-version": "2023-06-01"},
    )
    request = {
        "model": "claude-sonnet-4-5",  # a model that still takes temperature
        "max_tokens": 24,
        "messages": [user("Recite the tide table.")],
        "extra_body": {"temperature": 0.0},
    }
    probe = client.messages.create(**request)
    text = probe.content[0].text
    assert client.messages.create(**request).content[0].text == text  # deterministic
    start = next(
        (
            i
            for i in range(2, len(text) - 3)
            if not any(c.isspace() for c in text[i : i + 3]) and text.find(text[i : i + 3]) == i
        ),
        None,
    )
    assert start is not None, f"no stop sequence to pick in {text!r}"
    sequence = text[start : start + 3]
    stopped = client.messages.create(**request, stop_sequences=["never-said", sequence])
    check_message(stopped.model_dump(), model=request["model"])
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == sequence
    assert stopped.content[0].text == text[:start]

    _, final = sdk_stream(client.messages.stream(**request, stop_sequences=[sequence]))
    assert final["stop_reason"] == "stop_sequence" and final["stop_sequence"] == sequence
    assert final["content"][0]["text"] == text[:start]
