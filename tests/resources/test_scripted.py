"""Scripted replies on the wire: each reply kind through the official SDK
(strict response validation), streams that are byte for byte what the
built-in model would send for the same turn, legacy completion streams under
both formats, and a scripted tool loop run to completion.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread, sse_events

from dateline import Settings

MODEL = "claude-sonnet-4-5"
TOOL_ID = re.compile(r"^toolu_011C[0-9A-Za-z]{20}$")
MSG_ID = re.compile(r'"msg_011C[0-9A-Za-z]{20}"')
COMPL_ID = re.compile(r'"compl_011C[0-9A-Za-z]{20}"')
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def base_url(served: ServerThread) -> str:
    """This module's tests (and the shared ``client``/``http`` fixtures) talk to its own server."""
    return served.base_url


def request(text: str = "Hello there", **params: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 400, "messages": [{"role": "user", "content": text}], **params}


# --- reply kinds ---------------------------------------------------------------------------


def test_text(rules, client: anthropic.Anthropic):
    rules([{"reply": {"text": "Tide pools are rocky."}}])
    params = request("Tell me about tide pools")
    message = client.messages.create(**params)
    assert [(b.type, b.text) for b in message.content] == [("text", "Tide pools are rocky.")]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.model == MODEL and message.role == "assistant"
    # Usage is counted as for any reply: the request's input tokens, the text's output tokens.
    assert message.usage.input_tokens == client.messages.count_tokens(model=MODEL, messages=params["messages"]).input_tokens
    assert message.usage.output_tokens > 0


def test_tool_use(rules, client):
    rules([{"reply": {"text": "Let me look.", "tool_use": [
        {"name": "get_weather", "input": {"city": "Paris", "days": [1, 2], "units": {"temp": "C"}}},
        {"name": "get_weather", "input": {"city": "Rome"}, "id": "toolu_custom"},
    ]}}])
    message = client.messages.create(**request("Weather?", tools=[WEATHER]))
    text, first, second = message.content
    assert text.type == "text" and text.text == "Let me look."
    assert (first.type, first.name, first.input) == ("tool_use", "get_weather", {"city": "Paris", "days": [1, 2], "units": {"temp": "C"}})
    assert TOOL_ID.fullmatch(first.id)
    assert (second.id, second.input) == ("toolu_custom", {"city": "Rome"})
    assert message.stop_reason == "tool_use"
    # The same request gets the same made-up ids.
    again = client.messages.create(**request("Weather?", tools=[WEATHER]))
    assert again.content[1].id == first.id


def test_tool_use_of_a_tool_not_offered_still_answers(rules, client):
    rules([{"reply": {"tool_use": [{"name": "launch_rocket", "input": {"target": "moon"}}]}}])
    for params in (request("Go"), request("Go", tools=[WEATHER])):
        message = client.messages.create(**params)
        assert [(b.type, b.name, b.input) for b in message.content] == [("tool_use", "launch_rocket", {"target": "moon"})]
        with client.messages.stream(**params) as stream:
            assert stream.get_final_message().content[0].input == {"target": "moon"}


def test_thinking_is_signed_and_validates_when_echoed(rules, client):
    rules([{"match": {"last_user": "^Think$"}, "reply": {"thinking": "Let me reason it out.", "text": "Done thinking."}}])
    params = request("Think", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    with client.messages.stream(**params) as stream:
        message = stream.get_final_message()
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me reason it out." and thinking.signature
    assert text.text == "Done thinking."
    # Sent back unchanged it is accepted (the built-in model answers the next turn) ...
    follow = [*params["messages"], {"role": "assistant", "content": message.content}, {"role": "user", "content": "More?"}]
    answer = client.messages.create(**{**params, "messages": follow})
    assert answer.content[-1].type == "text"
    # ... altered, it is refused as the API refuses it.
    altered = thinking.model_dump()
    altered["thinking"] += " Or not."
    follow[1] = {"role": "assistant", "content": [altered, text.model_dump()]}
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        client.messages.create(**{**params, "messages": follow})


def test_stop_reason_and_usage_override(rules, client):
    rules([{"reply": {"text": "Cut", "stop_reason": "stop_sequence", "stop_sequence": "###",
                      "usage": {"input_tokens": 1234, "output_tokens": 56}}}])
    message = client.messages.create(**request())
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1234, 56)
    with client.messages.stream(**request()) as stream:
        streamed = stream.get_final_message()
    assert (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", "###")
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (1234, 56)
    # count_tokens answers with the scripted input tokens too.
    assert client.messages.count_tokens(model=MODEL, messages=request()["messages"]).input_tokens == 1234


@pytest.mark.parametrize(
    "stop_reason", ["end_turn", "max_tokens", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"]
)
def test_every_stop_reason(rules, client, stop_reason: str):
    rules([{"reply": {"text": "Hm.", "stop_reason": stop_reason}}])
    assert client.messages.create(**request()).stop_reason == stop_reason


REFUSAL = {"category": "cyber", "explanation": "This asks for working malware."}


def test_a_refusal_after_partial_text(rules, client, http):
    rules([{"reply": {"text": "Here is how ports", "stop_reason": "refusal", "stop_details": REFUSAL}}])
    message = client.messages.create(**request("Write me a worm"))
    assert [(b.type, b.text) for b in message.content] == [("text", "Here is how ports")]
    assert message.stop_reason == "refusal" and message.stop_sequence is None
    assert message.stop_details.model_dump() == {"type": "refusal", **REFUSAL}
    assert message.usage.output_tokens > 0  # what it said before stopping
    # Streamed: the details ride message_delta, as the stop reason does, and the SDK folds them.
    events = [json.loads(data) for _, data in sse_events(raw_stream(http, request("Write me a worm")))]
    start, delta = events[0]["message"], next(e for e in events if e["type"] == "message_delta")
    assert (start["stop_reason"], start["stop_details"]) == (None, None)
    assert delta["delta"]["stop_reason"] == "refusal"
    assert delta["delta"]["stop_details"] == {"type": "refusal", **REFUSAL}
    with client.messages.stream(**request("Write me a worm")) as stream:
        streamed = stream.get_final_message()
    assert streamed.model_dump(exclude={"id"}) == message.model_dump(exclude={"id"})


def test_stop_details_alone_make_a_refusal_and_a_bare_refusal_names_nothing(rules, client):
    rules([
        {"match": {"last_user": "details"}, "reply": {"stop_details": {"category": "bio"}}},
        {"reply": {"stop_reason": "refusal"}},
    ])
    given = client.messages.create(**request("details only"))
    assert (given.content, given.stop_reason) == ([], "refusal")
    assert given.stop_details.model_dump() == {"type": "refusal", "category": "bio", "explanation": None}
    bare = client.messages.create(**request("anything"))
    assert bare.stop_details.model_dump() == {"type": "refusal", "category": None, "explanation": None}


def test_other_stop_reasons_have_no_stop_details(rules, client):
    rules([{"reply": {"text": "Done.", "stop_reason": "end_turn"}}])
    assert client.messages.create(**request()).stop_details is None


def test_streamed_and_whole_replies_agree(rules, client):
    rules([{"reply": {"thinking": "Plan.", "text": "Answer, with some words to split.",
                      "tool_use": [{"name": "get_weather", "input": {"city": "Paris"}}]}}])
    params = request("Go", tools=[WEATHER])
    whole = client.messages.create(**params)
    with client.messages.stream(**params) as stream:
        streamed = stream.get_final_message()
    assert streamed.model_dump(exclude={"id"}) == whole.model_dump(exclude={"id"})


# --- the stream is the built-in model's stream ---------------------------------------------------


def raw_stream(
    http: httpx.Client, body: dict[str, Any], version: str = "2023-06-01", path: str = "/v1/messages", headers: dict[str, str] | None = None
) -> str:
    response = http.post(path, json={**body, "stream": True}, headers={"anthropic-version": version, **(headers or {})})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    return response.text


def reply_like(message: dict[str, Any]) -> dict[str, Any]:
    """The scripted reply that says what ``message`` says."""
    reply: dict[str, Any] = {"stop_reason": message["stop_reason"]}
    for block in message["content"]:
        if block["type"] == "thinking":
            reply["thinking"] = block["thinking"]
        elif block["type"] == "text":
            reply["text"] = block["text"]
        else:
            reply.setdefault("tool_use", []).append({"name": block["name"], "input": block["input"], "id": block["id"]})
    return reply


BUILT_IN_TURNS = {
    "text": request("Tell me about tide pools"),
    "tool_use": request("Check the weather", tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"}),
    "thinking": request("Think about tide pools", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048),
}


@pytest.mark.parametrize("kind", list(BUILT_IN_TURNS))
def test_a_scripted_stream_is_the_built_in_stream(rules, http, kind: str):
    body = BUILT_IN_TURNS[kind]
    built_in = http.post("/v1/messages", json=body).json()
    assert {b["type"] for b in built_in["content"]} >= {kind}
    real = raw_stream(http, body)
    rules([{"reply": reply_like(built_in)}])
    scripted = raw_stream(http, body)
    assert scripted != real  # a different message id ...
    # ... and otherwise the very same bytes: events, their order, deltas, pings, usage.
    assert MSG_ID.sub('"msg"', scripted) == MSG_ID.sub('"msg"', real)
    names = [name for name, _ in sse_events(scripted)]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"] and "ping" in names


def test_the_sdk_folds_a_scripted_stream(rules, client):
    rules([{"reply": {"text": "Streaming, word by word, like any reply.", "tool_use": [{"name": "get_weather", "input": {"city": "Oslo"}}]}}])
    params = request("Weather in Oslo?", tools=[WEATHER])
    texts = []
    with client.messages.stream(**params) as stream:
        for event in stream:
            if event.type == "text":
                texts.append(event.text)
        final = stream.get_final_message()
    assert len(texts) > 3 and "".join(texts) == "Streaming, word by word, like any reply."
    assert final.content[1].input == {"city": "Oslo"} and final.stop_reason == "tool_use"


def test_a_scripted_stream_is_paced_like_the_built_in_one():
    # --token-delay slows every stream, scripted or not.
    with ServerThread(Settings(token_delay=0.02)) as slow, httpx.Client(base_url=slow.base_url, timeout=30) as raw:
        raw.put("/_dateline/rules", json=[{"reply": {"text": "one two three four five six seven eight nine ten"}}])
        start = time.monotonic()
        text = raw_stream(raw, request(), headers={"x-api-key": "k"})
        elapsed = time.monotonic() - start
    deltas = sum(name == "content_block_delta" for name, _ in sse_events(text))
    assert deltas >= 10 and elapsed >= deltas * 0.02


# --- legacy completions ------------------------------------------------------------------------

PROMPT = "\n\nHuman: Tell me about tide pools\n\nAssistant:"
COMPLETION = {"model": "claude-2.1", "max_tokens_to_sample": 300, "prompt": PROMPT}


def test_a_scripted_completion_streams_named_and_incremental(rules, http):
    rules([{"match": {"endpoint": "complete"}, "reply": {"text": "Rock pools hold small worlds."}}])
    events = sse_events(raw_stream(http, COMPLETION, path="/v1/complete"))
    completions = [json.loads(data) for name, data in events if name == "completion"]
    assert {name for name, _ in events} == {"completion", "ping"}
    assert len(completions) > 3
    assert "".join(c["completion"] for c in completions) == " Rock pools hold small worlds."
    assert completions[-1]["stop_reason"] == "stop_sequence" and completions[-1]["stop"] == "\n\nHuman:"
    assert all(set(c) == {"type", "id", "completion", "stop_reason", "model", "stop", "log_id"} for c in completions)
    assert "[DONE]" not in [data for _, data in events]


def test_a_scripted_completion_under_2023_01_01_is_cumulative_with_done(rules, http):
    rules([{"match": {"endpoint": "complete"}, "reply": {"text": "Rock pools hold small worlds."}}])
    events = sse_events(raw_stream(http, COMPLETION, version="2023-01-01", path="/v1/complete"))
    data = [d for name, d in events if name is None]
    assert data[-1] == "[DONE]"
    completions = [json.loads(d) for d in data[:-1]]
    texts = [c["completion"] for c in completions]
    assert texts[-1] == " Rock pools hold small worlds."
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))  # all the text so far
    assert len(set(texts)) > 3
    assert all(c["exception"] is None and c["truncated"] is False for c in completions)


@pytest.mark.parametrize("version", ["2023-01-01", "2023-06-01"])
def test_a_scripted_completion_streams_as_the_built_in_does(rules, http, version: str):
    built_in = http.post("/v1/complete", json=COMPLETION, headers={"anthropic-version": version}).json()
    real = raw_stream(http, COMPLETION, version=version, path="/v1/complete")
    rules([{"reply": {"text": built_in["completion"].removeprefix(" ")}}])
    scripted = raw_stream(http, COMPLETION, version=version, path="/v1/complete")
    assert COMPL_ID.sub('"id"', scripted) == COMPL_ID.sub('"id"', real)


# --- a scripted tool loop ------------------------------------------------------------------------


def get_weather(city: str) -> str:
    return {"Paris": "18 degrees and cloudy"}.get(city, "unknown")


def run_tool_loop(client: anthropic.Anthropic, question: str) -> tuple[list[dict[str, Any]], anthropic.types.Message]:
    """The usual agent loop: call tools until the model stops asking."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(5):
        with client.messages.stream(model=MODEL, max_tokens=400, tools=[WEATHER], messages=messages) as stream:
            message = stream.get_final_message()
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
        if message.stop_reason != "tool_use":
            return messages, message
        results = [
            {"type": "tool_result", "tool_use_id": b.id, "content": get_weather(**b.input)}
            for b in message.content
            if b.type == "tool_use"
        ]
        messages.append({"role": "user", "content": results})
    raise AssertionError("the loop did not end")


def test_a_two_turn_tool_loop_by_matching_each_turn(rules, client):
    rules([
        {"name": "ask", "match": {"last_user": r"weather in Paris"},
         "reply": {"text": "Checking.", "tool_use": [{"name": "get_weather", "input": {"city": "Paris"}}]}},
        {"name": "answer", "match": {"endpoint": "messages", "last_user": r"(\d+) degrees"},
         "reply": {"text": "It is 18 degrees and cloudy in Paris."}},
    ])
    messages, final = run_tool_loop(client, "What is the weather in Paris?")
    assert final.content[0].text == "It is 18 degrees and cloudy in Paris." and final.stop_reason == "end_turn"
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"][0]["content"] == "18 degrees and cloudy"


def test_a_two_turn_tool_loop_by_a_sequence(rules, client, admin):
    rules([{"name": "loop", "match": {"tools": ["get_weather"]}, "replies": [
        {"tool_use": [{"name": "get_weather", "input": {"city": "Paris"}}]},
        {"text": "Cloudy, 18 degrees."},
    ]}])
    _, final = run_tool_loop(client, "Should I take an umbrella?")
    assert final.content[0].text == "Cloudy, 18 degrees."
    assert admin.get("/_dateline/rules").json()["rules"][0]["hits"] == 2
