"""The compatibility layer's translation tables, function by function: an OpenAI request as the
head Messages request it becomes, a head answer as OpenAI's, a limited key's headers as
OpenAI's. (The same paths run end to end in test_chat_completions.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from dateline.exchange import Exchange, begin, end
from dateline.http._chat_headers import duration, openai_limits
from dateline.resources._chat_answer import Chunks, completion, finish_reason
from dateline.resources._chat_request import DEFAULT_MAX_TOKENS, ChatRequestError, to_head

DEFAULTS = {"claude-sonnet-4-5": (64000, 200000, None, False)}
USER = {"role": "user", "content": "Hi"}


def head(**body: Any) -> dict[str, Any]:
    return to_head(DEFAULTS, {"model": "claude-sonnet-4-5", "messages": [USER], **body}, [])


def test_max_tokens_default_and_precedence() -> None:
    assert head()["max_tokens"] == 64000
    long = "tide pools " * 70000  # about 150,000 tokens: less room than 64,000 in a 200,000 window
    room = to_head(DEFAULTS, {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": long}]}, [])
    assert 30000 < room["max_tokens"] < 64000
    assert to_head(DEFAULTS, {"model": "other", "messages": [USER]}, [])["max_tokens"] == DEFAULT_MAX_TOKENS
    assert head(max_tokens=10)["max_tokens"] == 10
    assert head(max_tokens=10, max_completion_tokens=20)["max_tokens"] == 20


def test_system_and_developer_messages_anywhere_are_joined_with_one_newline() -> None:
    messages = [
        {"role": "developer", "content": "A"},
        USER,
        {"role": "system", "content": [{"type": "text", "text": "B"}, {"type": "text", "text": "C"}]},
        {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": "D", "name": "ignored"},
        USER,
    ]
    found = head(messages=messages)
    assert found["system"] == "A\nB\nC\nD"
    assert [m["role"] for m in found["messages"]] == ["user", "assistant", "user"]
    assert found["messages"][1] == {"role": "assistant", "content": "Hello"}


def test_ignored_fields_are_dropped_and_sampling_travels_beside() -> None:
    exchange = Exchange()
    token = begin(exchange)
    try:
        found = head(
            temperature=1.7,
            top_p=0.5,
            seed=1,
            user="u",
            metadata={"a": "b"},
            response_format={"type": "json_object"},
            logprobs=True,
            top_k=3,
            output_config={"effort": "low"},
            stream=True,
            stream_options={"include_usage": True},
        )
    finally:
        end(token)
    assert set(found) == {"model", "messages", "max_tokens", "stream"}
    assert exchange.beside == {"temperature": 1, "top_p": 0.5}


def test_stop_sequences() -> None:
    assert head(stop="END")["stop_sequences"] == ["END"]
    assert head(stop=["END", " ", "\n", "x y"])["stop_sequences"] == ["END", "x y"]
    assert "stop_sequences" not in head(stop=[" "])


def test_user_parts() -> None:
    content = [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
    assert head(messages=[{"role": "user", "content": content}])["messages"][0]["content"] == [
        {"type": "text", "text": "Look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ]


def test_tool_calls_and_results_become_one_turn_each() -> None:
    messages = [
        USER,
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Checking."}, {"type": "refusal", "refusal": "no"}],
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
        {"role": "user", "content": "Thanks"},
    ]
    found = head(messages=messages)["messages"]
    assert found[1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "c2", "name": "g", "input": {}},
    ]
    assert found[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "c2", "content": [{"type": "text", "text": "two"}]},
            {"type": "text", "text": "Thanks"},
        ],
    }


def test_legacy_function_call_and_function_message() -> None:
    messages = [
        USER,
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "done"},
    ]
    found = head(messages=messages, functions=[{"name": "f"}])
    assert found["messages"][1]["content"] == [{"type": "tool_use", "id": "call_function_1", "name": "f", "input": {}}]
    assert found["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_function_1", "content": "done"}
    ]
    assert found["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


TOOL = {
    "type": "function",
    "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": True},
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, {"type": "tool", "name": "f"}),
        ({"function_call": {"name": "f"}}, {"type": "tool", "name": "f"}),
        ({"function_call": "none"}, {"type": "none"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"parallel_tool_calls": True}, None),
        ({"tool_choice": "required", "parallel_tool_calls": False}, {"type": "any", "disable_parallel_tool_use": True}),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
    ],
)
def test_tool_choice(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    found = head(tools=[TOOL], **fields)
    assert found["tools"] == [{"name": "f", "input_schema": {"type": "object"}, "description": "d"}]
    assert found.get("tool_choice") == expected


def test_tool_choice_without_tools() -> None:
    assert "tool_choice" not in head(tool_choice="auto") and "tool_choice" not in head(tool_choice="none")
    assert head(tool_choice="required")["tool_choice"] == {"type": "any"}  # the native rule refuses it


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"n": 2}, "n", "invalid_value"),
        ({"n": True}, "n", "invalid_value"),
        ({"messages": None}, "messages", "invalid_type"),
        ({"messages": [USER, {"role": "critic"}]}, "messages[1].role", "invalid_value"),
        ({"temperature": -1}, "temperature", "invalid_value"),
        ({"top_p": "high"}, "top_p", "invalid_type"),
    ],
)
def test_the_layers_own_refusals_name_the_parameter(fields: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(ChatRequestError) as refused:
        head(**fields)
    assert (refused.value.param, refused.value.code, refused.value.status_code) == (param, code, 400)


def test_finish_reasons() -> None:
    expected = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        None: "stop",
    }
    assert {reason: finish_reason(reason) for reason in expected} == expected


def test_a_message_as_a_completion() -> None:
    message = {
        "id": "msg_1",
        "model": "m",
        "content": [
            {"type": "thinking", "thinking": "secret", "signature": "s"},
            {"type": "text", "text": "A"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": [1]}},
            {"type": "text", "text": "B"},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 5,
            "cache_creation_input_tokens": 2,
            "cache_read_input_tokens": 3,
            "output_tokens": 7,
        },
    }
    found = completion(message)
    assert found["choices"][0]["message"] == {
        "role": "assistant",
        "content": "AB",
        "refusal": None,
        "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"x":[1]}'}}],
    }
    assert found["usage"] == {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}


def test_thinking_deltas_make_no_chunks() -> None:
    chunks = Chunks()
    chunks.feed("message_start", {"message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 1}}})
    thinking = {"type": "thinking_delta", "thinking": "secret"}
    assert chunks.feed("content_block_start", {"index": 0, "content_block": {"type": "thinking"}}) == []
    assert chunks.feed("content_block_delta", {"index": 0, "delta": thinking}) == []
    assert chunks.feed("ping", {"type": "ping"}) == []


def test_limit_headers_under_openais_names() -> None:
    native = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:01:00Z",
        "anthropic-ratelimit-input-tokens-limit": "1000",
        "anthropic-ratelimit-input-tokens-remaining": "1000",
        "anthropic-ratelimit-input-tokens-reset": "2026-01-01T00:00:00Z",
    }
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    assert openai_limits(native, now) == {
        "x-ratelimit-limit-requests": "50",
        "x-ratelimit-remaining-requests": "49",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-tokens": "0ms",
    }
    assert openai_limits({"request-id": "r"}) == {}
    assert [duration(s) for s in (0.02, 1, 59.6, 360, 3723)] == ["20ms", "1s", "1m0s", "6m0s", "1h2m3s"]
