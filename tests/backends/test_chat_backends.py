"""POST /v1/chat/completions in front of the upstream backends, through the official OpenAI SDK:
an ``anthropic`` upstream (a second Dateline, whose request log shows what it received), an
``openai`` upstream (llama-cpp-python's real server on the tiny random model, tests/llama.py),
the same backend on a scripted OpenAI-compatible upstream (tests/fake_openai.py: what it received,
its errors, a connection cut mid-stream), and record/replay (a cassette of an anthropic upstream).

Only what holds whatever the model says is asserted: shapes, finish reasons, usage, ``[DONE]``,
errors as the SDK's exceptions, a broken stream rather than a hang.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from conftest import free_port
from fake_openai import RESET, FakeOpenAI, chunk
from llama import LlamaServer
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from dateline.backends.anthropic import AnthropicBackend
from dateline.backends.openai import OpenAIBackend
from dateline.testing import DatelineServer
from dateline.thinking import Signer
from dateline.upstream import Clients, Pool, RecordingTransport, ReplayTransport, Target, TransportFactory, Upstream

MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "user", "content": "Tell me about tide pools"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
#: Short answers: llama-cpp-python answers one request at a time.
SHORT = 16


class Stack:
    """The Dateline under test and the upstream it forwards to: a Dateline, a scripted OpenAI
    upstream, or llama.cpp's server (which takes no script and keeps no log)."""

    def __init__(self, front: DatelineServer, upstream: DatelineServer | FakeOpenAI | None) -> None:
        self.front, self.upstream = front, upstream


def anthropic_front(base_url: str, transport: TransportFactory | None = None) -> DatelineServer:
    target = Target(Upstream(name="up", kind="anthropic", base_url=base_url), MODEL)
    return DatelineServer(backend=AnthropicBackend(Pool([target]), Clients(transport)))


def openai_front(base_url: str, model: str) -> DatelineServer:
    upstream = Upstream(name="oai", kind="openai", base_url=base_url, timeout=60)
    backend = OpenAIBackend(Pool([Target(upstream, model)]), Clients(), Signer("test-signing-key"))
    return DatelineServer(backend=backend, signing_key="test-signing-key")


@pytest.fixture(scope="module", params=["anthropic", "llama", "fake-openai"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    if request.param == "anthropic":
        with DatelineServer() as upstream, anthropic_front(upstream.base_url) as front:
            yield Stack(front, upstream)
    elif request.param == "llama":
        llama: LlamaServer = request.getfixturevalue("llama_server")
        with openai_front(llama.base_url, llama.model) as front:
            yield Stack(front, None)
    else:
        with FakeOpenAI() as fake, openai_front(fake.base_url + "/v1", "gpt-upstream") as front:
            yield Stack(front, fake)


@pytest.fixture
def oai(stack: Stack) -> Iterator[openai.OpenAI]:
    if isinstance(stack.upstream, DatelineServer):
        stack.upstream.reset()
    elif stack.upstream is not None:
        stack.upstream.clear()
    with openai.OpenAI(
        base_url=stack.front.base_url + "/v1/", api_key="sk-ant-test", max_retries=0, timeout=120,
        _strict_response_validation=True,
    ) as client:  # fmt: skip
        yield client


def upstream_only(stack: Stack) -> DatelineServer | FakeOpenAI:
    if stack.upstream is None:
        pytest.skip("llama-cpp-python's server keeps no log of what it received and takes no scripted faults")
    return stack.upstream


def test_create(oai: openai.OpenAI) -> None:
    answer = oai.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=SHORT)
    assert isinstance(answer, ChatCompletion) and answer.object == "chat.completion" and answer.model == MODEL
    (choice,) = answer.choices
    assert choice.finish_reason in ("stop", "length") and choice.message.role == "assistant"
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= SHORT
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_with_usage_ends_with_done(oai: openai.OpenAI, stack: Stack) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": SHORT, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    headers = {"authorization": "Bearer sk-ant-test"}
    raw = httpx.post(f"{stack.front.base_url}/v1/chat/completions", json=body, headers=headers, timeout=120)
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in raw.text.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames) and frames[-1] == "data: [DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(f[6:])) for f in frames[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    # The SDK reads the same stream.
    streamed = list(oai.chat.completions.create(**{k: v for k, v in body.items() if k != "stream"}, stream=True))
    assert streamed[-1].usage is not None


def test_a_tool_call_round_trip_over_two_turns(oai: openai.OpenAI, stack: Stack) -> None:
    # A named function forces the call: llama.cpp's grammar shapes the arguments, whatever the model;
    # the scripted upstream is told to call it, and what it was sent back is checked.
    if isinstance(stack.upstream, FakeOpenAI):
        stack.upstream.reply(None, tool_calls=[{"name": "get_weather", "arguments": {"city": "Lisbon"}}])
    forced = {"type": "function", "function": {"name": "get_weather"}}
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Lisbon?"}]
    first = oai.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], tool_choice=forced,
                                        max_tokens=256)  # fmt: skip
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id
    assert isinstance(json.loads(call.function.arguments), dict)
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny and 24°C"},
    ]
    second = oai.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], tool_choice="none",
                                         max_tokens=SHORT)  # fmt: skip
    assert second.choices[0].finish_reason in ("stop", "length") and second.choices[0].message.tool_calls is None
    if isinstance(stack.upstream, FakeOpenAI):
        *_, call_turn, result = stack.upstream.chats()[-1]["messages"]
        assert call_turn["tool_calls"][0]["function"]["name"] == "get_weather"
        assert result["role"] == "tool" and result["content"] == "Sunny and 24°C"


def test_system_and_developer_messages_reach_the_upstream_hoisted(oai: openai.OpenAI, stack: Stack) -> None:
    upstream = upstream_only(stack)
    messages = [
        {"role": "system", "content": "You are a marine biologist."},
        {"role": "user", "content": "Tell me about tide pools"},
        {"role": "assistant", "content": "Gladly."},
        {"role": "developer", "content": "Answer in one paragraph."},
        {"role": "user", "content": "What lives there?"},
    ]
    oai.chat.completions.create(model=MODEL, messages=messages, max_tokens=SHORT)
    joined = "You are a marine biologist.\nAnswer in one paragraph."
    if isinstance(upstream, DatelineServer):
        (body,) = [e["body"] for e in upstream.requests("/v1/messages")]
        assert body["system"] == joined
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    else:  # the openai backend sends the Messages request's system as OpenAI's first message
        (body,) = upstream.chats()
        assert body["messages"][0] == {"role": "system", "content": joined}
        assert [m["role"] for m in body["messages"][1:]] == ["user", "assistant", "user"]


def test_sampling_parameters_reach_the_upstream(oai: openai.OpenAI, stack: Stack) -> None:
    upstream = stack.upstream
    answer = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=SHORT, temperature=1.5, top_p=0.9
    )
    assert answer.choices[0].message.content
    if isinstance(upstream, DatelineServer):  # asked in the newest version that has them: 2023-06-01
        (entry,) = upstream.requests("/v1/messages")
        assert entry["body"]["temperature"] == 1 and entry["body"]["top_p"] == 0.9
    elif isinstance(upstream, FakeOpenAI):
        (body,) = upstream.chats()
        assert body["temperature"] == 1 and body["top_p"] == 0.9


#: error type -> (what an OpenAI upstream answers for it, the SDK's exception at the client)
ERRORS = {
    "invalid_request_error": (400, openai.BadRequestError),
    "rate_limit_error": (429, openai.RateLimitError),
    "overloaded_error": (503, openai.InternalServerError),
}


@pytest.mark.parametrize("error", list(ERRORS))
def test_upstream_errors_are_the_sdks_exceptions(oai: openai.OpenAI, stack: Stack, error: str) -> None:
    upstream = upstream_only(stack)
    status, exception = ERRORS[error]
    if isinstance(upstream, DatelineServer):
        upstream.script([{"fault": {"error": error, "message": "From upstream."}}])
    else:
        upstream.fail(status, {"error": {"message": "From upstream.", "type": "server_error", "code": None}})
    with pytest.raises(exception) as raised:
        oai.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=SHORT)
    assert raised.value.response.headers["request-id"]
    if isinstance(upstream, DatelineServer):  # passed through as the upstream said it
        assert raised.value.type == error and raised.value.message.endswith("From upstream.")


def test_an_upstream_dropped_mid_stream_is_a_broken_stream_not_a_hang(oai: openai.OpenAI, stack: Stack) -> None:
    upstream = upstream_only(stack)
    if isinstance(upstream, DatelineServer):
        upstream.script([{"fault": {"disconnect_after_events": 4}}])
    else:
        upstream.chunks([chunk("", role="assistant"), chunk("Hel"), RESET])
    seen = []
    started = time.monotonic()
    with pytest.raises(openai.APIError):
        for piece in oai.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=200, stream=True):
            seen.append(piece)
    assert time.monotonic() - started < 10
    assert seen and seen[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].finish_reason is None for c in seen if c.choices)  # never a clean end


# -- record and replay -----------------------------------------------------------------------------


def chat_session(front: DatelineServer, upstream: DatelineServer | None) -> list[Any]:
    """What the OpenAI SDK reads of a few exchanges (ids left out: a replay mints its own)."""
    seen: list[Any] = []
    with openai.OpenAI(base_url=front.base_url + "/v1/", api_key="sk-ant-test", max_retries=0, timeout=30) as client:
        answer = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=SHORT)
        seen.append(answer.model_dump(exclude={"id", "created"}))
        chunks = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=SHORT, stream=True,
                                                stream_options={"include_usage": True})  # fmt: skip
        seen.append([c.model_dump(exclude={"id", "created"}) for c in chunks])
        if upstream is not None:
            upstream.fail(error="rate_limit_error", retry_after=3)
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=SHORT)
        seen.append((limited.value.body, limited.value.response.headers["retry-after"]))
    return seen


def test_record_then_replay_answers_the_sdk_alike(tmp_path) -> None:
    cassette = tmp_path / "upstream.jsonl"
    with DatelineServer() as upstream:
        with anthropic_front(upstream.base_url, lambda: RecordingTransport(cassette)) as front:
            recorded = chat_session(front, upstream)
    gone = f"http://127.0.0.1:{free_port()}"
    with anthropic_front(gone, lambda: ReplayTransport(cassette)) as front:
        replayed = chat_session(front, None)
    assert replayed == recorded
    assert recorded[0]["choices"][0]["message"]["content"] and recorded[1][-1]["usage"]
    assert recorded[2][1] == "3"
