"""POST /v1/messages and /v1/messages/count_tokens over real HTTP: the Messages
resource.

The official SDK (strict response validation) and raw httpx talk to a running
Dateline; every answer is checked against the wire contract: the Message
shape, the SSE event grammar, count_tokens agreeing with usage, and the API's
conversation rules with their validation texts. Tools and thinking have files
of their own (test_messages_tools.py, test_messages_thinking.py); what the
built-in model answers is in tests/backends/test_builtin_replies.py.
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
from messages_wire import (
    MODEL,
    PDF,
    PNG,
    PROMPT,
    TOOLS,
    assistant,
    body,
    deltas,
    error,
    fold,
    ok,
    post,
    raw,
    raw_stream,
    sdk,
    text_of,
    user,
    without_id,
)

MODEL_ID = "claude-haiku-4-5-20251001"
MODEL_MAX_TOKENS = 64000
ADAPTIVE_MODEL = "claude-sonnet-4-6"  # MODEL thinks only with a budget (`enabled`)


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    """As conftest's ``client``, built once: each new client loads its TLS context."""
    with sdk(base_url) as official:
        yield official


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    """As conftest's ``http`` (x-api-key, 2023-06-01), built once."""
    with raw(base_url) as plain:
        yield plain


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
    "adaptive_omitted": dict(
        model=ADAPTIVE_MODEL, thinking={"type": "adaptive", "display": "omitted"}, messages=[{"role": "user", "content": PROMPT}]
    ),
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
        {"model": ADAPTIVE_MODEL, "thinking": {"type": "adaptive"}, "tools": TOOLS, "messages": [user("Call get_weather for Oslo")]},
        {"thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}, "max_tokens": 2048},
    ],
    ids=["text", "truncated", "thinking_text_tool", "omitted"],
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
# max_tokens: the model's limit
# --------------------------------------------------------------------------


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


def test_final_assistant_may_be_empty_or_whitespace_only_in_the_middle(http: httpx.Client) -> None:
    assert ok(http, body(user(PROMPT), assistant([])))["stop_reason"] == "end_turn"
    assert ok(http, body(user(PROMPT), assistant([{"type": "text", "text": "Fine"}])))["stop_reason"] == "end_turn"


def test_consecutive_same_role_turns(http: httpx.Client) -> None:
    message = ok(http, body(user("hi"), user(PROMPT), assistant("Tide pools"), assistant("are small."), user("More?")))
    assert message["stop_reason"] == "end_turn"
    assert ok(http, body(assistant("I start."), user(PROMPT)))["stop_reason"] == "end_turn"


def test_system_role_messages(http: httpx.Client) -> None:
    mid = "claude-opus-4-8"  # takes system messages mid-conversation (MODEL does not)
    message = ok(http, body(user("hi"), assistant("Hello."), {"role": "system", "content": "Speak about tide pools."}, user(PROMPT), model=mid))
    assert "tide pools" in text_of(message)
    blocks = ok(http, body({"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, user(PROMPT), model=mid))
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
            {"type": "text", "text": "You are Claude Code, a CLI for coding.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "Environment: linux, git repo.", "cache_control": {"type": "ephemeral"}},
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
    usage = turn["usage"]  # 24 tool schemas are not free, wherever the cache breakpoints put them
    assert usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"] > 500

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
    messages += [assistant([thinking, *turn["content"][1:]]), user([{"type": "tool_result", "tool_use_id": call["id"], "content": "ok"}])]
    response = http.post("/v1/messages", json=_cc_request(messages), params={"beta": "true"}, headers=CC_HEADERS)
    assert error(response) == "messages.1.content.0: Invalid `signature` in `thinking` block"
