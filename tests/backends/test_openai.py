"""The ``openai`` backend: a real Dateline in front of a scriptable OpenAI-compatible
upstream (tests/fake_openai.py), asked through the official SDK and raw HTTP.

Request translation is checked against golden files (golden/openai/*.json:
the Messages request sent, and the chat.completions body the upstream got;
``DATELINE_UPDATE_GOLDEN=1`` rewrites them). Answer translation is checked on
the known failures of peers, one test each, from the exact chunks a real
server sends.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from conftest import free_port, sse_events
from fake_openai import DONE, RESET, FakeOpenAI, Pause, Reply, chunk, token_count, tool_call

from dateline.backends.openai import OpenAIBackend
from dateline.testing import DatelineServer
from dateline.thinking import Signer
from dateline.upstream import Clients, Pool, Target, Upstream

MODEL = "claude-sonnet-4-5"
UPSTREAM_MODEL = "fake-model"
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
ASK: dict[str, Any] = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
THINK = {"type": "enabled", "budget_tokens": 1024}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
GOLDEN = Path(__file__).parent / "golden" / "openai"
DELTAS = {"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"}, "tool_use": {"input_json_delta"}}


#: The server's key (the golden files' signatures are made with it), and its signer,
#: as the app gives its upstream backends.
SIGNING_KEY = "dateline-built-in-signing-key"
SIGNER = Signer(SIGNING_KEY)


def backend_for(*upstreams: Upstream, cooldown: float = 30.0) -> OpenAIBackend:
    return backend_of(Pool([Target(u, UPSTREAM_MODEL) for u in upstreams], cooldown=cooldown))


def backend_of(pool: Pool[Target]) -> OpenAIBackend:
    return OpenAIBackend(pool, Clients(), SIGNER)


def upstream_at(base_url: str, **options: Any) -> Upstream:
    return Upstream(name=options.pop("name", "fake"), kind="openai", base_url=base_url + "/v1", **options)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as running:
        yield running


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_server.clear()
    yield fake_server
    fake_server.clear()


@pytest.fixture(scope="module")
def dateline(fake_server: FakeOpenAI) -> Iterator[DatelineServer]:
    backend = backend_for(upstream_at(fake_server.base_url, api_key="sk-up"))
    with DatelineServer(backend=backend, signing_key=SIGNING_KEY) as server:
        yield server


def sdk(server: DatelineServer, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0, timeout=30, **options)


def post(server: DatelineServer, body: dict[str, Any], headers: dict[str, str] = HEADERS) -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/messages", json=body, headers=headers, timeout=30)


def stream_events(server: DatelineServer, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A streamed answer's events as sent: (event line, data), each data's type equal to its event line."""
    response = post(server, {**body, "stream": True})
    assert response.status_code == 200, response.text
    events = [(name, json.loads(data)) for name, data in sse_events(response.text)]
    for name, data in events:
        assert name == data["type"], (name, data)
    return events


def check_sequence(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The order every client relies on; the blocks opened, in order."""
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
    opened: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert current is None, f"block {data['index']} opened before block {len(opened) - 1} closed: {names}"
            assert data["index"] == len(opened), names
            current = data["content_block"]
            opened.append(current)
        elif name == "content_block_delta":
            assert current is not None and data["index"] == len(opened) - 1, f"a delta outside its block: {names}"
            assert data["delta"]["type"] in DELTAS[current["type"]], (current["type"], data["delta"])
        elif name == "content_block_stop":
            assert current is not None and data["index"] == len(opened) - 1, names
            current = None
        else:
            assert name == "ping", names
    assert current is None, names
    return opened


def streamed(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The Message the events describe (partial tool JSON left as a string)."""
    message = json.loads(json.dumps(events[0][1]["message"]))
    partial: dict[int, str] = {}
    for name, data in events[1:]:
        if name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
        elif name == "content_block_stop" and data["index"] in partial:
            raw = partial.pop(data["index"])
            try:
                message["content"][data["index"]]["input"] = json.loads(raw or "{}")
            except json.JSONDecodeError:
                message["content"][data["index"]]["input"] = raw
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"].update(data["usage"])
    return message


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


# --------------------------------------------------------------------------
# Request translation: golden files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_request_translation(dateline, fake, case):
    path = GOLDEN / f"{case}.json"
    golden = json.loads(path.read_text())
    fake.reply("Done.", times=None)
    response = post(dateline, golden["request"])
    assert response.status_code == 200, response.text
    sent = fake.chats()[0]
    if os.environ.get("DATELINE_UPDATE_GOLDEN"):
        golden["upstream"] = sent
        path.write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n")
    assert sent == golden["upstream"]


def test_golden_files_cover_the_edge_cases():
    assert {p.stem for p in GOLDEN.glob("*.json")} >= {
        "system_blocks_and_system_message", "images", "tool_choice_auto", "tool_choice_any_serial",
        "tool_choice_tool", "tool_choice_none", "tool_history", "sampling_and_metadata", "server_tools_skipped",
        "documents", "thinking_history",
    }  # fmt: skip


def test_a_stream_asks_the_upstream_for_usage(dateline, fake):
    stream_events(dateline, ASK)
    sent = fake.chats()[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == UPSTREAM_MODEL


def test_the_upstream_gets_its_key_as_bearer(dateline, fake):
    post(dateline, ASK)
    assert fake.requests[0]["headers"]["authorization"] == "Bearer sk-up"


@pytest.mark.parametrize("credentials", [{"x-api-key": "k"}, {"authorization": "Bearer k"}])
def test_the_client_may_use_either_credential_header(dateline, fake, credentials):
    response = post(dateline, ASK, headers={**credentials, "anthropic-version": "2023-06-01"})
    assert response.status_code == 200, response.text
    assert response.json()["content"] == [{"type": "text", "text": "Hello from the fake upstream."}]
    assert fake.requests[0]["headers"]["authorization"] == "Bearer sk-up"  # the client's key stays with Dateline


# --------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------


def test_a_message_reports_the_clients_model_and_the_upstreams_usage(dateline, fake):
    fake.reply("Tide pools are small.", usage={"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22})
    message = sdk(dateline).messages.create(**ASK)
    assert message.model == MODEL
    assert message.content[0].text == "Tide pools are small."
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.model_dump(exclude_none=True) == {
        "input_tokens": 17,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
        "inference_geo": "global",
        "speed": "standard",
    }
    # The upstream said nothing of reasoning: how much of the output was thinking is not known.
    assert message.usage.output_tokens_details is None


def test_streamed_usage_comes_from_the_final_chunk(dateline, fake):
    fake.reply("Tide pools are small.", usage={"prompt_tokens": 17, "completion_tokens": 5})
    events = stream_events(dateline, ASK)
    start, delta = events[0][1]["message"]["usage"], events[-2][1]["usage"]
    assert start["output_tokens"] == 1 and start["input_tokens"] > 0  # an estimate until the upstream says
    assert delta == {
        "input_tokens": 17,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
        "server_tool_use": None,
        "output_tokens_details": None,
    }


CACHED_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 40,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 25},
}


@pytest.mark.parametrize("stream", [False, True])
def test_cached_prompt_tokens_are_cache_reads_and_reasoning_is_thinking(dateline, fake, stream):
    fake.reply("Tide pools are small.", usage=CACHED_USAGE)
    if stream:
        with sdk(dateline).messages.stream(**ASK) as events:
            usage = events.get_final_message().usage
    else:
        usage = sdk(dateline).messages.create(**ASK).usage
    # The whole prompt is what is read from the cache plus the rest.
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (176, 1024, 0)
    assert usage.output_tokens == 40 and usage.output_tokens_details.thinking_tokens == 25


def test_the_streamed_delta_splits_the_prompt_as_the_message_does(dateline, fake):
    fake.reply("Tide pools are small.", usage=CACHED_USAGE, times=2)
    delta = stream_events(dateline, ASK)[-2][1]["usage"]
    whole = post(dateline, {**ASK, "model": MODEL}).json()["usage"]
    assert delta["input_tokens"] == whole["input_tokens"] == 176
    assert delta["cache_read_input_tokens"] == whole["cache_read_input_tokens"] == 1024
    assert delta["output_tokens_details"] == whole["output_tokens_details"] == {"thinking_tokens": 25}


def test_without_usage_the_upstreams_tokenizer_counts_the_input(dateline, fake):
    fake.reply("Hello there.", usage=False, times=2)
    message = sdk(dateline).messages.create(**ASK)
    events = stream_events(dateline, ASK)
    counted = sdk(dateline).messages.count_tokens(model=MODEL, messages=ASK["messages"]).input_tokens
    assert message.usage.input_tokens == events[-2][1]["usage"]["input_tokens"] == counted
    assert message.usage.output_tokens == events[-2][1]["usage"]["output_tokens"] > 0


def test_the_stream_helper_assembles_the_non_streamed_message(dateline, fake):
    fields = {"reasoning": "Sunny, I think.", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}
    fake.reply("Let me check.", **fields, times=2)
    request = {**ASK, "thinking": THINK, "max_tokens": 2048, "tools": [WEATHER]}
    whole = sdk(dateline).messages.create(**request)
    with sdk(dateline).messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.model_dump(exclude={"content"}) == whole.model_dump(exclude={"content"})
    assert [b.model_dump(exclude={"parsed_output"}) for b in final.content] == [b.model_dump() for b in whole.content]
    assert [b.type for b in whole.content] == ["thinking", "text", "tool_use"]
    assert whole.stop_reason == "tool_use" and whole.content[2].input == {"city": "Oslo"}


def test_ids_derive_from_the_upstreams(dateline, fake):
    calls = [{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "call_1"}]
    fake.reply("", tool_calls=calls, id="chatcmpl-A", times=2)
    fake.reply("", tool_calls=calls, id="chatcmpl-B")
    request = {**ASK, "tools": [WEATHER]}
    first, again, other = (sdk(dateline).messages.create(**request) for _ in range(3))
    assert first.id == again.id != other.id and first.id.startswith("msg_011C") and len(first.id) == 28
    assert first.content[0].id == again.content[0].id != other.content[0].id
    assert first.content[0].id.startswith("toolu_")


def test_the_text_block_is_not_always_index_0(dateline, fake):
    """Thinking, then text, then a tool call: indexes 0, 1, 2."""
    fake.chunks([
        chunk("", role="assistant"),
        chunk(reasoning="The user wants "), chunk(reasoning="the weather."),
        chunk("Checking"), chunk(" now."),
        chunk(tool_calls=[tool_call(0, id="call_1", name="get_weather")]),
        chunk(tool_calls=[tool_call(0, '{"city": ')]), chunk(tool_calls=[tool_call(0, '"Oslo"}')]),
        chunk(finish_reason="tool_calls"), DONE,
    ])  # fmt: skip
    events = stream_events(dateline, {**ASK, "thinking": THINK, "max_tokens": 2048, "tools": [WEATHER]})
    blocks = check_sequence(events)
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use"]
    starts = [data for name, data in events if name == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    message = streamed(events)
    assert message["content"][0]["thinking"] == "The user wants the weather."
    assert SIGNER.verify(message["content"][0]["thinking"], message["content"][0]["signature"])
    assert message["content"][1]["text"] == "Checking now."
    assert message["content"][2]["input"] == {"city": "Oslo"} and message["stop_reason"] == "tool_use"


def test_every_block_closes_before_the_next_opens(dateline, fake):
    """Interleaved reasoning, text and two tool calls, on the raw event sequence."""
    fake.chunks([
        chunk(reasoning="a"), chunk("b"), chunk(reasoning="c"), chunk("d"),
        chunk(tool_calls=[tool_call(0, '{"city":"A"}', id="c1", name="get_weather")]),
        chunk(tool_calls=[tool_call(1, '{"city":"B"}', id="c2", name="get_weather")]),
        chunk(finish_reason="tool_calls"), DONE,
    ])  # fmt: skip
    events = stream_events(dateline, {**ASK, "thinking": THINK, "max_tokens": 2048, "tools": [WEATHER]})
    blocks = check_sequence(events)
    assert [b["type"] for b in blocks] == ["thinking", "text", "thinking", "text", "tool_use", "tool_use"]
    kinds = [(n, d.get("index"), d.get("delta", {}).get("type")) for n, d in events[1:-2]]
    assert kinds[:4] == [
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
    ]


def test_thinking_deltas_never_land_in_a_text_block(dateline, fake):
    fake.chunks([chunk("Hello", reasoning="hmm"), chunk(" world", reasoning="ok"), chunk(finish_reason="stop"), DONE])
    events = stream_events(dateline, {**ASK, "thinking": THINK, "max_tokens": 2048})
    check_sequence(events)  # asserts each delta's type against its block's
    message = streamed(events)
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "thinking", "text"]
    assert "".join(b.get("text", "") for b in message["content"]) == "Hello world"


def test_reasoning_is_not_shown_unless_thinking_was_asked_for(dateline, fake):
    fake.reply("The answer.", reasoning="Secret musings.", times=2)
    message = sdk(dateline).messages.create(**ASK)
    events = stream_events(dateline, ASK)
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "The answer."
    assert [b["type"] for b in check_sequence(events)] == ["text"]


def test_a_thinking_block_sent_back_is_accepted(dateline, fake):
    fake.reply("Sunny.", reasoning="Let me think.")
    first = sdk(dateline).messages.create(**{**ASK, "thinking": THINK, "max_tokens": 2048})
    history = [user("Hi"), assistant([b.model_dump(exclude_none=True) for b in first.content]), user("And?")]
    again = sdk(dateline).messages.create(model=MODEL, max_tokens=2048, thinking=THINK, messages=history)
    assert again.content
    assert [m["role"] for m in fake.chats()[1]["messages"]] == ["user", "assistant", "user"]


def test_omitted_thinking_sends_only_a_signature(dateline, fake):
    fake.chunks([chunk(reasoning="hidden"), chunk("Shown."), chunk(finish_reason="stop"), DONE])
    events = stream_events(dateline, {**ASK, "thinking": {**THINK, "display": "omitted"}, "max_tokens": 2048})
    check_sequence(events)
    thinking = streamed(events)["content"][0]
    assert thinking["thinking"] == "" and SIGNER.verify("", thinking["signature"])
    assert not any(d.get("delta", {}).get("type") == "thinking_delta" for _, d in events)


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("eos", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(dateline, fake, finish_reason, stop_reason):
    fake.chunks([chunk("Hi."), chunk(finish_reason=finish_reason), DONE])
    fake.reply("Hi.", finish_reason=finish_reason)
    assert streamed(stream_events(dateline, ASK))["stop_reason"] == stop_reason
    assert post(dateline, ASK).json()["stop_reason"] == stop_reason


def test_tool_calls_with_finish_reason_stop_are_tool_use(dateline, fake):
    fake.reply("", tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}], finish_reason="stop")
    assert sdk(dateline).messages.create(**ASK, tools=[WEATHER]).stop_reason == "tool_use"


# --------------------------------------------------------------------------
# Stop sequences
# --------------------------------------------------------------------------


def test_a_stop_sequence_is_reported_with_the_one_matched(dateline, fake):
    fake.reply("One, two. END three", tool_calls=[{"name": "get_weather", "arguments": {"city": "X"}}])
    message = sdk(dateline).messages.create(**ASK, tools=[WEATHER], stop_sequences=["never", "END", "three"])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "END"
    assert [b.model_dump(exclude_none=True) for b in message.content] == [{"type": "text", "text": "One, two. "}]
    assert "stop" not in fake.chats()[0]  # found here, which tells which one matched


def test_a_streamed_stop_sequence_split_across_chunks(dateline, fake):
    fake.chunks([chunk("Count: 1, 2, ST"), chunk("OP"), chunk(" 3, 4"), chunk(finish_reason="stop"), DONE])
    events = stream_events(dateline, {**ASK, "stop_sequences": ["STOP"]})
    check_sequence(events)
    message = streamed(events)
    assert message["content"] == [{"type": "text", "text": "Count: 1, 2, "}]
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "STOP")
    assert "ST" not in "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")


def test_a_streamed_stop_sequence_at_the_very_start_gives_no_block(dateline, fake):
    fake.chunks([chunk("##"), chunk("#rest"), chunk(finish_reason="stop"), DONE])
    events = stream_events(dateline, {**ASK, "stop_sequences": ["###"]})
    assert check_sequence(events) == []
    assert streamed(events)["stop_sequence"] == "###"


def test_text_held_for_a_stop_sequence_comes_before_the_next_block(dateline, fake):
    fake.chunks([
        chunk("Let me lo"),
        chunk(tool_calls=[tool_call(0, '{"city":"Oslo"}', id="c1", name="get_weather")]),
        chunk(finish_reason="tool_calls"), DONE,
    ])  # fmt: skip
    events = stream_events(dateline, {**ASK, "tools": [WEATHER], "stop_sequences": ["look up"]})
    assert [b["type"] for b in check_sequence(events)] == ["text", "tool_use"]
    message = streamed(events)
    assert message["content"][0]["text"] == "Let me lo" and message["stop_reason"] == "tool_use"


def test_the_stream_helper_sees_the_stop_sequence(dateline, fake):
    fake.reply("alpha beta gamma", times=2)
    request = {**ASK, "stop_sequences": ["gam"]}
    whole = sdk(dateline).messages.create(**request)
    with sdk(dateline).messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert final.stop_sequence == whole.stop_sequence == "gam"
    assert final.content[0].text == whole.content[0].text == "alpha beta "
    # Output is estimated from what was kept; input, the upstream's count in the whole answer,
    # comes from its tokenizer in the stream (read no further than the stop, it sends no usage).
    assert final.usage.output_tokens == whole.usage.output_tokens


# --------------------------------------------------------------------------
# What real servers send
# --------------------------------------------------------------------------


def test_repeated_ids_and_names_in_tool_call_chunks_make_one_block(dateline, fake):
    """llama.cpp repeats id, name and type in every chunk of a call."""
    same = {"id": "call_x", "name": "get_weather"}
    fake.chunks([
        chunk(tool_calls=[tool_call(0, "", **same)]),
        chunk(tool_calls=[tool_call(0, '{"ci', **same)]),
        chunk(tool_calls=[tool_call(0, 'ty": "Oslo"}', **same)]),
        chunk(tool_calls=[tool_call(1, '{"city": "Rome"}', id="call_x", name="get_weather")]),
        chunk(finish_reason="tool_calls"), DONE,
    ])  # fmt: skip
    events = stream_events(dateline, {**ASK, "tools": [WEATHER]})
    blocks = check_sequence(events)
    assert [b["type"] for b in blocks] == ["tool_use", "tool_use"]
    assert blocks[0]["id"] != blocks[1]["id"]  # the upstream reused its call id; ours stay unique
    assert [b["input"] for b in streamed(events)["content"]] == [{"city": "Oslo"}, {"city": "Rome"}]


def test_empty_chunks_are_skipped(dateline, fake):
    fake.chunks([
        ": keep-alive\n\n",
        chunk("", role="assistant"),
        {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": []},
        chunk(None),
        {"id": "chatcmpl-fake", "choices": [{"index": 0, "delta": {"content": None, "tool_calls": None}}]},
        chunk("Hi"), chunk(""), chunk(reasoning=""), chunk("!"),
        {"id": "chatcmpl-fake", "choices": [{"index": 1, "delta": {"content": "other choice"}}]},
        chunk(finish_reason="stop"),
        chunk(usage={"prompt_tokens": 3, "completion_tokens": 2}),
        DONE,
    ])  # fmt: skip
    events = stream_events(dateline, ASK)
    assert [b["type"] for b in check_sequence(events)] == ["text"]
    texts = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert texts == ["Hi", "!"]
    assert events[-2][1]["usage"]["output_tokens"] == 2


def test_cut_off_tool_json_in_a_stream_ends_at_max_tokens(dateline, fake):
    """The deltas are out already: the API sends the partial JSON, the SDK parses it leniently."""
    cut = [
        chunk(tool_calls=[tool_call(0, '{"city": "Os', id="c1", name="get_weather")]),
        chunk(finish_reason="length"), DONE,
    ]  # fmt: skip
    fake.chunks(cut, times=2)
    events = stream_events(dateline, {**ASK, "tools": [WEATHER]})
    check_sequence(events)
    assert streamed(events)["content"][0]["input"] == '{"city": "Os'
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    with sdk(dateline).messages.stream(**ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.content[0].input == {}  # jiter drops the unfinished string


def test_cut_off_tool_json_in_a_whole_answer_is_an_api_error(dateline, fake):
    fake.reply("", tool_calls=[{"name": "get_weather", "arguments": '{"city": "Os'}], finish_reason="length")
    response = post(dateline, {**ASK, "tools": [WEATHER]})
    assert response.status_code == 500
    assert response.json()["error"] == {
        "type": "api_error",
        "message": "The upstream model's tool call arguments are not valid JSON (cut off at max_tokens?)",
    }


def test_a_tool_call_without_arguments_has_empty_input(dateline, fake):
    fake.reply("", tool_calls=[{"name": "get_weather", "arguments": ""}])
    fake.chunks(
        [chunk(tool_calls=[tool_call(0, "", id="c", name="get_weather")]), chunk(finish_reason="tool_calls"), DONE]
    )
    assert sdk(dateline).messages.create(**ASK, tools=[WEATHER]).content[0].input == {}
    assert streamed(stream_events(dateline, {**ASK, "tools": [WEATHER]}))["content"][0]["input"] == {}


def test_a_stream_answered_with_a_whole_completion_is_still_a_stream(dateline, fake):
    """Some servers ignore ``stream``: their JSON answer comes as the events."""
    whole = Reply("Whole.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]).completion({})
    fake.fail(200, whole)
    events = stream_events(dateline, {**ASK, "tools": [WEATHER]})
    assert [b["type"] for b in check_sequence(events)] == ["text", "tool_use"]
    message = streamed(events)
    assert message["content"][1]["input"] == {"city": "Oslo"} and message["stop_reason"] == "tool_use"


def test_max_tokens_0_asks_no_upstream(dateline, fake):
    message = post(dateline, {**ASK, "max_tokens": 0}).json()
    assert (message["content"], message["stop_reason"], message["usage"]["output_tokens"]) == ([], "max_tokens", 0)
    assert message["usage"]["input_tokens"] > 0
    assert fake.chats() == []


# --------------------------------------------------------------------------
# count_tokens
# --------------------------------------------------------------------------


def test_count_tokens_asks_the_upstreams_tokenizer(dateline, fake):
    counted = sdk(dateline).messages.count_tokens(model=MODEL, system="Be brief.", messages=[user("Hi there")])
    asked = fake.requests[-1]
    assert asked["path"] == "/tokenize"
    text = asked["body"]["content"]
    assert text == "system\nBe brief.\nuser\nHi there\nassistant\n"
    assert counted.input_tokens == token_count(text) + 2 * 2 + 1  # two messages' template markers, the cue


def test_count_tokens_without_a_tokenizer_estimates_locally_and_asks_no_more():
    with FakeOpenAI(tokenize=False) as fake, DatelineServer(backend=backend_for(upstream_at(fake.base_url))) as server:
        client = sdk(server)
        first = client.messages.count_tokens(model=MODEL, messages=[user("Hi there")]).input_tokens
        second = client.messages.count_tokens(model=MODEL, messages=[user("Hi there")]).input_tokens
    assert first == second > 0
    assert [r["path"] for r in fake.requests] == ["/tokenize"]  # then /extras/tokenize/count: not served at all


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


CREDENTIALS = "The upstream fake rejected Dateline's credentials: "
UPSTREAM_ERRORS = [
    (400, {"error": {"message": "context too long", "type": "invalid_request_error"}}, "invalid_request_error", "context too long"),
    (404, {"detail": "Not Found"}, "invalid_request_error", "Not Found"),  # FastAPI
    (422, {"object": "error", "message": "bad model", "code": 422}, "invalid_request_error", "bad model"),  # vLLM
    (400, "plain text", "invalid_request_error", "plain text"),
    (401, {"error": {"message": "bad key"}}, "api_error", CREDENTIALS + "bad key"),
    (403, {"error": "forbidden"}, "api_error", CREDENTIALS + "forbidden"),
    (500, {"error": {"message": "boom"}}, "api_error", "The upstream fake failed (500): boom"),
    (503, b"", "api_error", "The upstream fake failed (503): HTTP 503"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "error_type", "message"), UPSTREAM_ERRORS)
def test_upstream_errors_come_in_the_apis_envelope(dateline, fake, status, body, error_type, message):
    fake.fail(status, body, times=2)
    for response in (post(dateline, ASK), post(dateline, {**ASK, "stream": True})):
        expected_status = {"invalid_request_error": 400, "api_error": 500}[error_type]
        assert response.status_code == expected_status, response.text
        assert response.json() == {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": response.headers["request-id"],
        }


def test_a_rate_limit_comes_back_with_its_retry_after(dateline, fake):
    fake.fail(429, {"error": {"message": "Slow down", "type": "rate_limit"}}, headers={"retry-after": "7"})
    with pytest.raises(anthropic.RateLimitError) as limited:
        sdk(dateline).messages.create(**ASK)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.body["error"] == {"type": "rate_limit_error", "message": "Slow down"}


def test_an_upstream_that_is_down_is_overloaded():
    with DatelineServer(backend=backend_for(upstream_at(f"http://127.0.0.1:{free_port()}", name="gpu-box"))) as server:
        with pytest.raises(anthropic.OverloadedError) as down:
            sdk(server).messages.create(**ASK)
        response = post(server, {**ASK, "stream": True})
    assert down.value.status_code == 529 and down.value.body["error"]["type"] == "overloaded_error"
    assert "gpu-box" in down.value.body["error"]["message"]
    assert response.status_code == 529 and response.json()["error"]["type"] == "overloaded_error"


COOLDOWN = 3.0


def test_fail_over_skips_a_refusing_upstream_until_its_cool_down_ends(fake):
    flaky = FakeOpenAI()  # its port is bound but not listening: connections are refused
    try:
        first = Target(upstream_at(flaky.base_url, name="flaky"), UPSTREAM_MODEL)
        second = Target(upstream_at(fake.base_url, name="steady"), UPSTREAM_MODEL)
        pool = Pool([first, second], cooldown=COOLDOWN)
        with DatelineServer(backend=backend_of(pool)) as server:
            client = sdk(server)
            assert client.messages.create(**ASK).content[0].text == "Hello from the fake upstream."
            refused_at = time.monotonic()
            assert len(fake.chats()) == 1
            flaky.start()  # it would answer now, but it rests
            client.messages.create(**ASK)
            client.messages.create(**ASK)
            assert time.monotonic() - refused_at < COOLDOWN, "too slow to test the cool-down"
            assert (len(fake.chats()), flaky.chats()) == (3, [])
            time.sleep(COOLDOWN + 0.1 - (time.monotonic() - refused_at))
            for _ in range(2):  # one of two turns is the flaky one's again
                client.messages.create(**ASK)
            assert len(flaky.chats()) == 1
    finally:
        flaky.stop()


@pytest.fixture
def slow_server(fake: FakeOpenAI) -> Iterator[DatelineServer]:
    with DatelineServer(backend=backend_for(upstream_at(fake.base_url, timeout=0.5))) as server:
        yield server


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_never_answers_times_out(slow_server, fake, stream):
    fake.hang()
    started = time.monotonic()
    response = post(slow_server, {**ASK, "stream": stream})
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.json()["error"]["type"] == "timeout_error"
    assert 0.5 <= elapsed < 3


def test_a_stream_that_stalls_ends_with_a_timeout_error_event(slow_server, fake):
    fake.hang(after=[chunk("", role="assistant"), chunk("Hel")])
    started = time.monotonic()
    events = sse_events(post(slow_server, {**ASK, "stream": True}).text)
    assert time.monotonic() - started < 3
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert json.loads(events[-1][1])["error"]["type"] == "timeout_error"


def test_a_pause_shorter_than_the_timeout_is_fine(slow_server, fake):
    fake.chunks([chunk("Hel"), Pause(0.3), chunk("lo"), Pause(0.3), chunk(finish_reason="stop"), DONE])
    assert streamed(stream_events(slow_server, ASK))["content"][0]["text"] == "Hello"


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        ([RESET], "connection broke off"),
        (["data: {not json\n\n"], "malformed chunk"),
        (["data: [1, 2]\n\n"], "malformed chunk"),
        ([{"error": {"message": "out of memory", "code": 500}}], "out of memory"),
        (['error: {"code": 500, "message": "slot failed", "type": "server_error"}\n\n'], "slot failed"),
        ([], "ended before the answer was complete"),
    ],
)
def test_a_stream_broken_mid_way_ends_with_an_api_error_event(dateline, fake, tail, message):
    fake.chunks([chunk("", role="assistant"), chunk("Hel"), *tail])
    events = sse_events(post(dateline, {**ASK, "stream": True}).text)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta", "error"]
    error = json.loads(events[-1][1])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert message in error["error"]["message"]


def test_an_error_chunk_before_any_answer_is_an_http_error(dateline, fake):
    fake.chunks([{"error": {"code": 400, "message": "the prompt is too long", "type": "invalid_request_error"}}])
    response = post(dateline, {**ASK, "stream": True})
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": "the prompt is too long"}


def test_a_stream_reset_before_its_first_chunk_is_an_http_error(dateline, fake):
    fake.chunks([RESET])
    response = post(dateline, {**ASK, "stream": True})
    assert response.status_code == 500 and response.json()["error"]["type"] == "api_error"


def test_a_connection_closed_before_any_answer_is_overloaded():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def close_at_once() -> None:
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.close()

        closer = threading.Thread(target=close_at_once, daemon=True)
        closer.start()
        with DatelineServer(backend=backend_for(upstream_at(f"http://127.0.0.1:{port}"))) as server:
            response = post(server, ASK)
        closer.join(5)
    assert response.status_code == 529 and response.json()["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_struggling_upstream_passes_the_request_on(fake, status):
    other = FakeOpenAI()
    other.start()
    try:
        other.fail(status, times=None)
        pool = Pool(
            [Target(upstream_at(other.base_url, name="struggling"), UPSTREAM_MODEL),
             Target(upstream_at(fake.base_url, name="steady"), UPSTREAM_MODEL)],
            cooldown=COOLDOWN,
        )
        with DatelineServer(backend=backend_of(pool)) as server:
            # The struggling one is first in turn: its failure is not the client's.
            assert sdk(server).messages.create(**ASK).content[0].text == "Hello from the fake upstream."
            assert len(other.chats()) == 1 and len(fake.chats()) == 1
        # With no other upstream, its answer is the client's (a 5xx as the API's 500 api_error).
        with DatelineServer(backend=backend_of(Pool([pool.members[0]]))) as server:
            assert post(server, ASK).status_code == (429 if status == 429 else 500)
    finally:
        other.stop()


# --------------------------------------------------------------------------
# Sampling parameters: gone from 2026-10-21, still sent by 2023-06-01 clients
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["message", "stream"])
def test_an_older_clients_sampling_parameters_reach_the_upstream(dateline, fake, stream):
    fake.reply("Done.", times=None)
    with sdk(dateline, default_headers={"anthropic-version": "2023-06-01"}) as client:
        request = {"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [user("Hi")],
                   "extra_body": {"temperature": 0.2, "top_p": 0.5, "top_k": 7}}
        if stream:
            with client.messages.stream(**request) as events:
                events.get_final_message()
        else:
            client.messages.create(**request)
    sent = fake.chats()[0]
    assert (sent["temperature"], sent["top_p"], sent["top_k"]) == (0.2, 0.5, 7)


def test_a_2026_10_21_client_cannot_send_them(dateline, fake):
    fake.reply("Done.", times=None)
    with sdk(dateline) as client, pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs"):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=32, messages=[user("Hi")],
                               extra_body={"temperature": 0.2})
    assert fake.chats() == []
    with sdk(dateline) as client:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=32, messages=[user("Hi")])
    assert not {"temperature", "top_p", "top_k"} & set(fake.chats()[0])
