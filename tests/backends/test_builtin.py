"""The built-in model, driven directly: compose() decides a whole reply, and
messages() streams it as head events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jsonschema
import pytest

from dateline import tokenizer
from dateline.backends import BuiltinModel
from dateline.catalog import Catalog, ModelInfo
from dateline.thinking import Signer

MODEL = "claude-haiku-4-5"
PROMPT = "Tell me about tide pools"
WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK = {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}
NOTES = {
    "name": "save_note",
    "input_schema": {
        "type": "object",
        "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["title", "body", "tags"],
    },
}
TOOLS = [WEATHER, CLOCK, NOTES]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("test-key")


@pytest.fixture(scope="module")
def model(signer: Signer) -> BuiltinModel:
    return BuiltinModel(signer)


def request(*messages: Any, max_tokens: int = 1024, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": max_tokens, "messages": list(messages) or [{"role": "user", "content": PROMPT}], **extra}


def types(turn: Any) -> list[str]:
    return [b.type for b in turn.blocks]


def text(turn: Any) -> str:
    return "".join(b.text for b in turn.blocks if b.type == "text")


def tokens(turn: Any) -> int:
    """What the blocks cost: text and (possibly hidden) thinking, tool input as JSON."""
    total = 0
    for block in turn.blocks:
        total += block.tokens if block.type == "thinking" else tokenizer.count(block.text or block.input_json)
    return total


def events(model: BuiltinModel, req: dict[str, Any], *, stream: bool) -> list[tuple[str, dict[str, Any]]]:
    async def run() -> list[tuple[str, dict[str, Any]]]:
        return [(e.name, e.data) async for e in model.messages(req, stream=stream)]

    return asyncio.run(run())


# --------------------------------------------------------------------------
# compose()
# --------------------------------------------------------------------------


def test_plain_reply(model: BuiltinModel) -> None:
    turn = model.compose(request())
    assert types(turn) == ["text"]
    assert turn.stop_reason == "end_turn" and turn.stop_sequence is None
    assert turn.output_tokens == tokenizer.count(text(turn)) == tokens(turn)
    assert "tide pools" in text(turn)


def test_deterministic_and_independent_of_delivery(model: BuiltinModel) -> None:
    base = model.compose(request())
    assert model.compose(request()) == base
    for extra in ({"stream": True}, {"temperature": 0.2}, {"metadata": {"user_id": "u"}}, {"max_tokens": 4000}):
        assert model.compose({**request(), **extra}).blocks == base.blocks


@pytest.mark.parametrize("thinking", [None, {"type": "adaptive"}], ids=["plain", "adaptive"])
@pytest.mark.parametrize("tool_choice", [None, {"type": "any"}], ids=["text", "tool_any"])
def test_max_tokens_zero(model: BuiltinModel, thinking: Any, tool_choice: Any) -> None:
    extra: dict[str, Any] = {}
    if thinking:
        extra["thinking"] = thinking
    if tool_choice:
        extra.update(tools=TOOLS, tool_choice=tool_choice)
    turn = model.compose(request(max_tokens=0, **extra))
    assert turn.blocks == []
    assert turn.stop_reason == "max_tokens" and turn.output_tokens == 0


@pytest.mark.parametrize("max_tokens", [1, 2, 7, 20])
def test_tiny_budget_with_thinking(model: BuiltinModel, max_tokens: int) -> None:
    turn = model.compose(request(max_tokens=max_tokens, thinking={"type": "adaptive"}))
    assert turn.stop_reason == "max_tokens" and turn.output_tokens == max_tokens
    assert types(turn) == ["thinking"]  # the thinking alone fills the budget
    block = turn.blocks[0]
    assert block.tokens == tokenizer.count(block.text) == max_tokens
    assert Signer("test-key").verify(block.text, block.signature)


def test_thinking_leaves_room_for_text(model: BuiltinModel) -> None:
    full = model.compose(request(thinking={"type": "adaptive"}))
    assert types(full) == ["thinking", "text"] and full.stop_reason == "end_turn"
    thought = full.blocks[0].tokens
    turn = model.compose(request(max_tokens=thought + 3, thinking={"type": "adaptive"}))
    assert types(turn) == ["thinking", "text"]
    assert tokenizer.count(turn.blocks[1].text) == 3
    assert turn.stop_reason == "max_tokens" and turn.output_tokens == thought + 3


def test_thinking_budget_caps_the_thinking(model: BuiltinModel) -> None:
    turn = model.compose(request(max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 1024}))
    assert 0 < turn.blocks[0].tokens <= 1024


def test_omitted_thinking_is_billed_but_not_shown(model: BuiltinModel, signer: Signer) -> None:
    shown = model.compose(request(thinking={"type": "adaptive"}))
    hidden = model.compose(request(thinking={"type": "adaptive", "display": "omitted"}))
    assert hidden.blocks[0].text == "" and signer.verify("", hidden.blocks[0].signature)
    assert not signer.verify(shown.blocks[0].text, hidden.blocks[0].signature)
    assert hidden.blocks[0].tokens == shown.blocks[0].tokens > 0
    assert hidden.output_tokens == shown.output_tokens
    assert text(hidden) == text(shown)  # display only changes what is shown


@pytest.mark.parametrize("max_tokens", [1, 4, 9])
@pytest.mark.parametrize("named", [False, True], ids=["forced", "named"])
def test_tool_call_that_does_not_fit_degrades_to_text(model: BuiltinModel, max_tokens: int, named: bool) -> None:
    if named:
        req = request({"role": "user", "content": "Please use save_note for this"}, max_tokens=max_tokens, tools=TOOLS)
    else:
        req = request(max_tokens=max_tokens, tools=TOOLS, tool_choice={"type": "tool", "name": "save_note"})
    turn = model.compose(req)
    assert types(turn) == ["text"]
    assert turn.stop_reason == "max_tokens" and turn.output_tokens == max_tokens == tokens(turn)


def test_tool_call_with_thinking_that_does_not_fit(model: BuiltinModel) -> None:
    def compose(max_tokens: int) -> Any:
        ask = {"role": "user", "content": "Use get_weather for Quito"}
        return model.compose(request(ask, max_tokens=max_tokens, tools=TOOLS, thinking={"type": "adaptive"}))

    full = compose(1024)
    assert types(full) == ["thinking", "text", "tool_use"] and full.stop_reason == "tool_use"
    assert full.output_tokens == tokens(full)
    short = compose(full.output_tokens - 1)
    assert types(short) == ["thinking", "text"]
    assert short.stop_reason == "max_tokens" and short.output_tokens == full.output_tokens - 1 == tokens(short)
    assert short.blocks[1].text.startswith(full.blocks[1].text)  # the preface, then out of room
    assert compose(full.output_tokens) == full


def test_forced_tool_input_validates(model: BuiltinModel) -> None:
    for tool in TOOLS:
        turn = model.compose(request(tools=TOOLS, tool_choice={"type": "tool", "name": tool["name"]}))
        assert types(turn) == ["tool_use"]
        block = turn.blocks[0]
        assert block.name == tool["name"] and block.tool_id.startswith("toolu_")
        jsonschema.validate(block.input, tool["input_schema"])
        assert block.input_json.startswith("{")
        assert turn.output_tokens == tokenizer.count(block.input_json)


def test_tool_choice_any_picks_deterministically(model: BuiltinModel) -> None:
    prompts = [f"Question number {word}" for word in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")]
    picks = []
    for prompt in prompts:
        req = request({"role": "user", "content": prompt}, tools=TOOLS, tool_choice={"type": "any"})
        first, second = model.compose(req), model.compose(req)
        assert first == second
        picks.append(first.blocks[0].name)
    assert set(picks) <= {t["name"] for t in TOOLS}
    assert len(set(picks)) > 1  # the pick depends on the conversation


def test_tool_choice_any_prefers_the_named_tool(model: BuiltinModel) -> None:
    req = request({"role": "user", "content": "What time is it? Try get time."}, tools=TOOLS, tool_choice={"type": "any"})
    assert model.compose(req).blocks[0].name == "get_time"


def test_tool_not_called_without_input_schema(model: BuiltinModel) -> None:
    client_tool = {"type": "bash_20250124", "name": "bash"}  # the client runs it; its input is not the model's to make
    turn = model.compose(request({"role": "user", "content": "Use bash please"}, tools=[client_tool]))
    assert types(turn) == ["text"]


def test_stop_sequence_at_position_zero(model: BuiltinModel) -> None:
    first_token = tokenizer.split(text(model.compose(request())))[0]
    turn = model.compose(request(stop_sequences=[first_token]))
    assert turn.blocks == []
    assert turn.stop_reason == "stop_sequence" and turn.stop_sequence == first_token
    assert turn.output_tokens == 0


def test_stop_sequence_in_the_preface_cancels_the_call(model: BuiltinModel) -> None:
    req = request({"role": "user", "content": "Use get_weather for Rome"}, tools=TOOLS, stop_sequences=["tool"])
    turn = model.compose(req)
    assert types(turn) == ["text"] and text(turn) == "I'll use the get_weather "
    assert turn.stop_reason == "stop_sequence" and turn.stop_sequence == "tool"


def test_stop_sequence_in_the_degraded_text(model: BuiltinModel) -> None:
    ask = {"role": "user", "content": "Please use save_note for this"}
    full = model.compose(request(ask, tools=TOOLS))
    preface, call = full.blocks[0].text, full.blocks[1].input_json
    assert tokenizer.count(call) > 5
    base = request(ask, max_tokens=tokenizer.count(preface) + tokenizer.count(call) - 1, tools=TOOLS)
    degraded = text(model.compose(base))
    assert degraded.startswith(preface) and len(degraded) > len(preface) + 10
    word = next(w for w in degraded[len(preface) :].split() if w not in preface)
    turn = model.compose({**base, "stop_sequences": [word]})
    assert turn.stop_reason == "stop_sequence" and turn.stop_sequence == word
    assert text(turn) == degraded[: degraded.index(word)]


def test_reply_after_tool_results(model: BuiltinModel) -> None:
    use = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Rome"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "31C and clear"}]}
    req = request(
        {"role": "user", "content": "Use get_weather for Rome"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
        tools=TOOLS,
    )
    turn = model.compose(req)
    assert types(turn) == ["text"] and turn.stop_reason == "end_turn"
    assert "get_weather" in text(turn) and "31C and clear" in text(turn)


def test_prefill_is_continued(model: BuiltinModel) -> None:
    req = request({"role": "user", "content": PROMPT}, {"role": "assistant", "content": "Sure"})
    reply = text(model.compose(req))
    assert reply.startswith(" ") and reply[1:2].isupper()
    forced = model.compose({**req, "max_tokens": 2, "tools": TOOLS, "tool_choice": {"type": "tool", "name": "save_note"}})
    assert text(forced).startswith(" ")  # even when a call that does not fit turns into text
    plain = model.compose(request({"role": "user", "content": PROMPT}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]}))
    assert not text(plain).startswith(" ")


@pytest.mark.parametrize("prompt", ["context detail", "What about context and detail?", "detail", "examples background context detail practice"])
def test_prompts_made_of_the_fallback_words(model: BuiltinModel, prompt: str) -> None:
    turn = model.compose(request({"role": "user", "content": prompt}, thinking={"type": "adaptive"}))
    assert types(turn) == ["thinking", "text"] and turn.stop_reason == "end_turn"


def test_long_reply_when_asked(model: BuiltinModel) -> None:
    short = model.compose(request(max_tokens=5000))
    long = model.compose(request({"role": "user", "content": "Write a comprehensive essay on tide pools"}, max_tokens=5000))
    assert long.output_tokens > 3 * short.output_tokens and long.stop_reason == "end_turn"


# --------------------------------------------------------------------------
# messages(): the event stream
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_event_stream_matches_the_turn(model: BuiltinModel, stream: bool) -> None:
    req = request({"role": "user", "content": "Use get_weather for Oslo"}, tools=TOOLS, thinking={"type": "adaptive"})
    turn = model.compose(req)
    seen = events(model, req, stream=stream)
    names = [n for n, _ in seen]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert seen[0][1]["message"]["usage"]["input_tokens"] == tokenizer.count_request(req)
    final = seen[-2][1]
    assert final["delta"] == {"stop_reason": "tool_use", "stop_sequence": None, "stop_details": None, "container": None}
    assert final["usage"]["output_tokens"] == turn.output_tokens
    thought = turn.blocks[0].tokens
    assert 0 < thought < turn.output_tokens and final["usage"]["output_tokens_details"] == {"thinking_tokens": thought}
    starts = [d["content_block"]["type"] for n, d in seen if n == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    text_deltas = [d["delta"]["text"] for n, d in seen if n == "content_block_delta" and d["delta"]["type"] == "text_delta"]
    assert "".join(text_deltas) == turn.blocks[1].text
    if stream:
        assert len(text_deltas) == tokenizer.count(turn.blocks[1].text)  # one token per delta
    else:
        assert len(text_deltas) == 1
    json_deltas = [d["delta"]["partial_json"] for n, d in seen if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"]
    assert json_deltas[0] == "" and "".join(json_deltas) == turn.blocks[2].input_json


def test_token_delay_paces_a_stream(signer: Signer) -> None:
    slow = BuiltinModel(signer, token_delay=0.05)
    req = request(max_tokens=10)
    started = time.perf_counter()
    streamed = events(slow, req, stream=True)
    elapsed = time.perf_counter() - started
    deltas = sum(1 for n, _ in streamed if n == "content_block_delta")
    assert deltas == 10 and elapsed >= 10 * 0.05
    started = time.perf_counter()
    whole = events(slow, req, stream=False)
    assert time.perf_counter() - started < 10 * 0.05  # nobody watches a non-streamed answer
    assert [n for n, _ in whole if n != "content_block_delta"] == [n for n, _ in streamed if n != "content_block_delta"]


def test_count_tokens_is_the_tokenizer(model: BuiltinModel) -> None:
    req = request(system="Be brief.", tools=TOOLS)
    assert asyncio.run(model.count_tokens(req)) == tokenizer.count_request(req)


# --------------------------------------------------------------------------
# The context window (a model of the catalog's with window_stop)
# --------------------------------------------------------------------------

SMALL = ModelInfo(id="claude-small-window", max_input_tokens=60, max_tokens=1000, features=frozenset({"messages", "adaptive", "window_stop"}))
SMALL_NO_STOP = ModelInfo(id="claude-small-no-stop", max_input_tokens=60, max_tokens=1000, features=frozenset({"messages", "adaptive"}))


@pytest.fixture(scope="module")
def windowed(signer: Signer) -> BuiltinModel:
    return BuiltinModel(signer, catalog=Catalog([SMALL, SMALL_NO_STOP]))


def test_a_window_stop_model_stops_at_its_window(windowed: BuiltinModel) -> None:
    req = request(model=SMALL.id)
    prompt = tokenizer.count_request(req)
    turn = windowed.compose(req)
    assert turn.stop_reason == "model_context_window_exceeded" and turn.stop_sequence is None
    assert turn.output_tokens == 60 - prompt > 0
    # The reply is cut where max_tokens of that size cuts it.
    capped = windowed.compose(request(model=SMALL.id, max_tokens=60 - prompt))
    assert capped.stop_reason == "max_tokens" and text(capped) == text(turn)
    # Without window_stop nothing stops at the window (the request's own checks are the resource's).
    assert windowed.compose(request(model=SMALL_NO_STOP.id)).stop_reason == "end_turn"


def test_thinking_counts_against_the_window(windowed: BuiltinModel) -> None:
    req = request(model=SMALL.id, thinking={"type": "adaptive"})
    room = 60 - tokenizer.count_request(req)
    turn = windowed.compose(req)
    assert types(turn) == ["thinking", "text"] and turn.stop_reason == "model_context_window_exceeded"
    assert turn.output_tokens == room and turn.thinking_tokens == turn.blocks[0].tokens > 0
    assert turn.thinking_tokens + tokenizer.count(text(turn)) == room


def test_a_prompt_that_fills_the_window_gets_an_empty_reply(windowed: BuiltinModel) -> None:
    turn = windowed.compose(request({"role": "user", "content": "tide " * 80}, model=SMALL.id))
    assert (turn.blocks, turn.stop_reason, turn.output_tokens) == ([], "model_context_window_exceeded", 0)
