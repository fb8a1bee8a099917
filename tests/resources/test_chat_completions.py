"""POST /v1/chat/completions through the official OpenAI SDK (strict response types): create
and stream, tool calls over two turns, system and developer messages hoisted, the layer's
refusals, scripted faults raising the SDK's exceptions (retried as ``retry-after`` says),
usage, and the request log.

The server under test is ``served`` (conftest's, one per module): a module that runs this
suite against another backend overrides it. Assertions that only the built-in model's
determinism allows say so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from conftest import ServerThread
from messages_wire import PNG
from openai.types.chat import ChatCompletion, ChatCompletionChunk

MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "user", "content": "Tell me about tide pools"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}

#: error type -> (status, the OpenAI SDK's exception)
ERRORS = {
    "invalid_request_error": (400, openai.BadRequestError),
    "authentication_error": (401, openai.AuthenticationError),
    "permission_error": (403, openai.PermissionDeniedError),
    "not_found_error": (404, openai.NotFoundError),
    "conflict_error": (409, openai.ConflictError),
    "rate_limit_error": (429, openai.RateLimitError),
    "api_error": (500, openai.InternalServerError),
    "overloaded_error": (529, openai.InternalServerError),
}


def sdk(server: ServerThread, **options: Any) -> openai.OpenAI:
    """The OpenAI SDK pointed at Dateline as the layer's docs say: base URL ``…/v1/``."""
    settings = {"api_key": "sk-ant-test", "max_retries": 0, "timeout": 30, "_strict_response_validation": True}
    return openai.OpenAI(base_url=server.base_url + "/v1/", **{**settings, **options})


@pytest.fixture
def oai(served: ServerThread) -> Iterator[openai.OpenAI]:
    with sdk(served) as client:
        yield client


def logged(admin: httpx.Client) -> list[dict[str, Any]]:
    return admin.get("/_dateline/requests").json()["data"]


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- create and stream ------------------------------------------------------------------------


def test_create_answers_one_choice_with_usage(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
    answer = raw.parse()
    assert isinstance(answer, ChatCompletion)
    assert answer.object == "chat.completion" and answer.model == MODEL and answer.id
    assert len(answer.choices) == 1
    choice = answer.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop"
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.message.tool_calls is None and choice.message.refusal is None
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["openai-version"] == "2020-10-01"
    assert raw.headers["request-id"].startswith("req_")


def test_stream_starts_with_the_role_and_agrees_with_create(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
    assert all(isinstance(c, ChatCompletionChunk) and c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    assert all(c.usage is None for c in chunks)  # usage only when asked
    # Built-in model: the same request answers the same, streamed or not.
    assert text_of(chunks) == oai.chat.completions.create(model=MODEL, messages=HELLO).choices[0].message.content


def test_stream_options_include_usage_adds_a_last_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True})
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert chunks[-2].choices[0].finish_reason == "stop"
    answer = oai.chat.completions.create(model=MODEL, messages=HELLO)
    assert last.usage.prompt_tokens == answer.usage.prompt_tokens
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens > 0


def test_max_tokens_and_max_completion_tokens_end_the_answer_with_length(oai: openai.OpenAI) -> None:
    for limit in ({"max_tokens": 3}, {"max_completion_tokens": 3}):
        answer = oai.chat.completions.create(model=MODEL, messages=HELLO, **limit)
        assert answer.choices[0].finish_reason == "length"
        assert answer.usage.completion_tokens == 3
    chunks = list(oai.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=3, stream=True))
    assert chunks[-1].choices[0].finish_reason == "length"


def test_a_stop_sequence_cuts_the_answer(oai: openai.OpenAI) -> None:
    full = oai.chat.completions.create(model=MODEL, messages=HELLO).choices[0].message.content
    word = full.split()[3]
    answer = oai.chat.completions.create(model=MODEL, messages=HELLO, stop=[word, "  "])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == full[: full.index(word)]
    single = oai.chat.completions.create(model=MODEL, messages=HELLO, stop=word)
    assert single.choices[0].message.content == answer.choices[0].message.content


def test_ignored_fields_are_accepted(oai: openai.OpenAI) -> None:
    answer = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me about tide pools", "name": "ana"}],
        temperature=0.2,
        top_p=0.9,
        n=1,
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        logprobs=True,
        top_logprobs=2,
        logit_bias={"50256": -100},
        user="user-1",
        metadata={"team": "tides"},
        store=True,
        service_tier="auto",
        response_format={"type": "json_object"},
        reasoning_effort="low",
        modalities=["text"],
        prediction={"type": "content", "content": "Tide pools"},
    )
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content
    assert answer.choices[0].logprobs is None


def test_temperature_is_capped_at_1(oai: openai.OpenAI) -> None:
    # Claude Opus 4.7 refuses any temperature but its default, 1: 1.7 is capped to that.
    opus = "claude-opus-4-7"
    assert oai.chat.completions.create(model=opus, messages=HELLO, temperature=1.7).choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="temperature is deprecated for this model"):
        oai.chat.completions.create(model=opus, messages=HELLO, temperature=0.5)
    with pytest.raises(openai.BadRequestError) as negative:
        oai.chat.completions.create(model=MODEL, messages=HELLO, temperature=-0.5)
    assert negative.value.param == "temperature"


def test_an_image_url_part_is_read(oai: openai.OpenAI) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ]
    answer = oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    plain = oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content[0]["text"]}])
    assert answer.choices[0].message.content
    assert answer.usage.prompt_tokens > plain.usage.prompt_tokens  # the image counts; the audio is stripped


def test_thinking_through_extra_body_is_never_shown(oai: openai.OpenAI, served: ServerThread) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    answer = oai.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=3000, extra_body={"thinking": thinking}
    )
    native = anthropic.Anthropic(base_url=served.base_url, api_key="sk-ant-test", max_retries=0).messages.create(
        model=MODEL, max_tokens=3000, messages=HELLO, thinking=thinking
    )
    reasoning = next(b.thinking for b in native.content if b.type == "thinking")
    text = "".join(b.text for b in native.content if b.type == "text")
    # Built-in model: the same answer as the native one, without its reasoning.
    assert answer.choices[0].message.content == text and reasoning not in answer.choices[0].message.content
    assert answer.usage.completion_tokens == native.usage.output_tokens  # thinking tokens are paid for
    chunks = list(
        oai.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=3000, stream=True, extra_body={"thinking": thinking}
        )
    )
    assert text_of(chunks) == text


# -- system and developer messages ---------------------------------------------------------------


def test_system_and_developer_messages_are_hoisted_and_joined(oai: openai.OpenAI, served: ServerThread) -> None:
    messages = [
        {"role": "system", "content": "You are a marine biologist."},
        {"role": "user", "content": "Tell me about tide pools"},
        {"role": "assistant", "content": "Gladly. What would you like to know?"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in one paragraph."}]},
        {"role": "user", "content": "What lives there?"},
    ]
    answer = oai.chat.completions.create(model=MODEL, messages=messages, max_tokens=1000)
    # What the backend received is the native request with the two joined by one newline:
    # the built-in model, whose answer is a function of its request, answers both alike.
    native = anthropic.Anthropic(base_url=served.base_url, api_key="sk-ant-test", max_retries=0)
    hoisted = native.messages.create(
        model=MODEL,
        max_tokens=1000,
        system="You are a marine biologist.\nAnswer in one paragraph.",
        messages=[m for m in messages if m["role"] in ("user", "assistant")],
    )
    assert answer.choices[0].message.content == hoisted.content[0].text
    assert answer.usage.prompt_tokens == hoisted.usage.input_tokens
    elsewhere = native.messages.create(
        model=MODEL,
        max_tokens=1000,
        system="You are a marine biologist. Answer in one paragraph.",
        messages=[m for m in messages if m["role"] in ("user", "assistant")],
    )
    assert elsewhere.content[0].text != hoisted.content[0].text  # the join is seen, not only the words


# -- tools ----------------------------------------------------------------------------------------


def test_a_tool_call_round_trip_over_two_turns(oai: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Lisbon?"}]
    first = oai.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], tool_choice="required")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny and 24°C"},
    ]
    second = oai.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert "Sunny and 24°C" in second.choices[0].message.content  # built-in model: it reads the result back
    assert second.choices[0].message.tool_calls is None


def test_a_streamed_tool_call_sends_its_arguments_as_deltas(oai: openai.OpenAI) -> None:
    named = {"type": "function", "function": {"name": "search_docs"}}
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "How do tides work?"}],
        tools=[WEATHER, SEARCH],
        tool_choice=named,
        stream=True,
    )
    chunks = list(stream)
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert calls[0].id and calls[0].function.name == "search_docs" and calls[0].type == "function"
    assert all(t.index == 0 for t in calls) and all(t.id is None for t in calls[1:])
    assert len(calls) > 2  # the arguments arrive in pieces
    arguments = "".join(t.function.arguments or "" for t in calls)
    assert isinstance(json.loads(arguments)["query"], str)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_and_parallel_tool_calls(oai: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "Use get_weather for Paris"}]
    none = oai.chat.completions.create(model=MODEL, messages=ask, tools=[WEATHER], tool_choice="none")
    assert none.choices[0].message.tool_calls is None and none.choices[0].finish_reason == "stop"
    auto = oai.chat.completions.create(model=MODEL, messages=ask, tools=[WEATHER], parallel_tool_calls=False)
    assert auto.choices[0].finish_reason == "tool_calls" and len(auto.choices[0].message.tool_calls) == 1


def test_legacy_functions_and_function_messages(oai: openai.OpenAI) -> None:
    function = WEATHER["function"]
    ask = [{"role": "user", "content": "What's the weather in Oslo?"}]
    first = oai.chat.completions.create(
        model=MODEL, messages=ask, functions=[function], function_call={"name": "get_weather"}
    )
    (call,) = first.choices[0].message.tool_calls  # answered in today's shape
    later = [
        *ask,
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": call.function.arguments},
        },
        {"role": "function", "name": "get_weather", "content": "Snowing"},
    ]
    second = oai.chat.completions.create(model=MODEL, messages=later, functions=[function])
    assert second.choices[0].finish_reason == "stop" and "Snowing" in second.choices[0].message.content


# -- refusals and errors --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 0])
def test_n_other_than_1_is_refused(oai: openai.OpenAI, n: int) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model=MODEL, messages=HELLO, n=n)
    assert refused.value.status_code == 400
    assert refused.value.param == "n" and refused.value.type == "invalid_request_error"
    assert "n=1" in refused.value.message


def test_an_unknown_model_is_the_sdks_not_found(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="claude-nonexistent", messages=HELLO)
    assert missing.value.type == "not_found_error"


@pytest.mark.parametrize("error_type", list(ERRORS))
def test_a_scripted_fault_raises_the_sdks_exception(rules, oai: openai.OpenAI, error_type: str) -> None:
    status, exception = ERRORS[error_type]
    rules([{"fault": {"error": error_type, "message": "On purpose."}}])
    with pytest.raises(exception) as raised:
        oai.chat.completions.create(model=MODEL, messages=HELLO)
    assert raised.value.status_code == status
    assert raised.value.message.endswith("On purpose.") and raised.value.type == error_type
    assert raised.value.response.headers["request-id"].startswith("req_")


def test_the_sdk_retries_a_scripted_529_after_retry_after(rules, served: ServerThread, admin: httpx.Client) -> None:
    rules([{"name": "busy", "fault": {"error": "overloaded_error", "retry_after": 0.4}, "times": 2}])
    with sdk(served, max_retries=2) as client:
        started = time.monotonic()
        answer = client.chat.completions.create(model=MODEL, messages=HELLO)
        waited = time.monotonic() - started
    assert answer.choices[0].message.content
    assert 0.8 <= waited < 5  # twice the 0.4 s it was told, not the SDK's own backoff
    entries = [e for e in logged(admin) if e["path"] == "/v1/chat/completions"]
    assert [e["status"] for e in entries] == [529, 529, 200]
    assert [e["rule"]["name"] if e["rule"] else None for e in entries] == ["busy", "busy", None]


def test_a_rate_limit_fault_tells_the_sdk_when_to_retry(rules, served: ServerThread) -> None:
    rules([{"fault": {"error": "rate_limit_error", "retry_after": 0.5}, "times": 1}])
    with sdk(served, max_retries=1) as client:
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
        assert time.monotonic() - started >= 0.5
    assert raw.retries_taken == 1 and raw.parse().choices[0].message.content


def test_an_error_mid_stream_raises_the_sdks_api_error(rules, oai: openai.OpenAI) -> None:
    rules([{"fault": {"error": "overloaded_error", "after_events": 4}}])
    seen = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in oai.chat.completions.create(model=MODEL, messages=HELLO, stream=True):
            seen.append(chunk)
    assert seen and seen[0].choices[0].delta.role == "assistant"
    assert raised.value.message == "Overloaded" and raised.value.body["type"] == "overloaded_error"


def test_a_stream_cut_off_is_a_connection_error_not_a_hang(rules, served: ServerThread) -> None:
    rules([{"fault": {"disconnect_after_events": 4}}])
    with sdk(served, timeout=10) as client:
        started = time.monotonic()
        with pytest.raises(openai.APIConnectionError):
            list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
        assert time.monotonic() - started < 5


# -- the same pipeline as /v1/messages ------------------------------------------------------------


def test_a_scripted_reply_answers_and_the_request_log_keeps_what_was_sent(
    rules, oai: openai.OpenAI, admin: httpx.Client
) -> None:
    rules(
        [
            {
                "name": "tides",
                "match": {"last_user": "tide pools", "endpoint": "messages"},
                "reply": {"text": "Scripted."},
            }
        ]
    )
    answer = oai.chat.completions.create(model=MODEL, messages=HELLO, seed=3)
    assert answer.choices[0].message.content == "Scripted."
    (entry,) = logged(admin)
    assert entry["path"] == "/v1/chat/completions" and entry["status"] == 200
    assert entry["rule"]["name"] == "tides"
    assert entry["body"]["seed"] == 3 and entry["body"]["messages"] == HELLO  # as the client sent it


def test_scripted_tool_calls_are_tool_calls_streamed_or_not(rules, oai: openai.OpenAI) -> None:
    calls = [{"name": "get_weather", "input": {"city": "Faro"}}, {"name": "get_weather", "input": {"city": "Porto"}}]
    rules([{"reply": {"text": "Let me check.", "tool_use": calls}}])
    answer = oai.chat.completions.create(model=MODEL, messages=HELLO, tools=[WEATHER])
    message = answer.choices[0].message
    assert message.content == "Let me check." and answer.choices[0].finish_reason == "tool_calls"
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Faro"}, {"city": "Porto"}]
    chunks = list(oai.chat.completions.create(model=MODEL, messages=HELLO, tools=[WEATHER], stream=True))
    assert text_of(chunks) == "Let me check."
    pieces = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    ids = [t.id for t in pieces if t.id]
    assert len(ids) == 2 and [t.index for t in pieces if t.id] == [0, 1]
    arguments = ["".join(t.function.arguments or "" for t in pieces if t.index == i) for i in (0, 1)]
    assert [json.loads(a) for a in arguments] == [{"city": "Faro"}, {"city": "Porto"}]


def test_a_refusal_finishes_with_content_filter(rules, oai: openai.OpenAI) -> None:
    rules([{"reply": {"text": "I can't help with that.", "stop_reason": "refusal"}}])
    answer = oai.chat.completions.create(model=MODEL, messages=HELLO)
    assert answer.choices[0].finish_reason == "content_filter"
    assert answer.choices[0].message.content == "I can't help with that."
    chunks = list(oai.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
    assert chunks[-1].choices[0].finish_reason == "content_filter"
