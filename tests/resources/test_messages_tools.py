"""Tools on POST /v1/messages, over real HTTP: ``tools`` and ``tool_choice``,
the calls the built-in model makes (their ids, names and schema-valid inputs,
streamed as ``input_json_delta``), round trips with ``tool_result``, and the
API's rule that every ``tool_use`` is answered in the very next turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from messages_wire import (
    MODEL,
    PNG,
    PROMPT,
    TOOLS,
    WEATHER,
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


TOOL_SCHEMAS = {t["name"]: t["input_schema"] for t in TOOLS}


# --------------------------------------------------------------------------
# Declaring tools and choosing one
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


def test_tool_names_checked(http: httpx.Client) -> None:
    response = post(http, body(tools=[{"name": "has space", "input_schema": {"type": "object"}}]))
    assert error(response) == "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
    duplicate = post(http, body(tools=[WEATHER, WEATHER]))
    assert error(duplicate) == "tools: Tool names must be unique."


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
# tool_use and tool_result
# --------------------------------------------------------------------------


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


def _model_for(messages: list[dict[str, Any]]) -> str:
    """MODEL, or a model that takes ``system`` messages mid-conversation when there is one."""
    return "claude-opus-4-8" if any(m["role"] == "system" for m in messages) else MODEL


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
    model = _model_for(messages)
    for request in (body(*messages, tools=TOOLS, model=model), body(*messages, tools=TOOLS, stream=True, model=model)):
        assert error(post(http, request)) == _missing(index, TOOL_USE["id"])
    counted = post(http, {"model": model, "messages": messages, "tools": TOOLS}, "/v1/messages/count_tokens")
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
    model = _model_for(messages)
    message = ok(http, body(*messages, tools=TOOLS, model=model))
    assert message["stop_reason"] == "end_turn"
    counted = post(http, {"model": model, "messages": messages, "tools": TOOLS}, "/v1/messages/count_tokens")
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
