"""Thinking on POST /v1/messages, over real HTTP: the thinking block first,
shown or omitted, streamed and folded as the SDK does; signed turns echoed
back, altered ones refused where they are; and the API's rules on budgets and
on forced tool use.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from messages_wire import (
    MODEL,
    PROMPT,
    TOOLS,
    assistant,
    body,
    deltas,
    error,
    ok,
    post,
    raw,
    raw_stream,
    sdk,
    user,
)

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
# The thinking block
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thinking",
    [{"type": "enabled", "budget_tokens": 1024}, {"type": "enabled", "budget_tokens": 3000}, {"type": "adaptive"}],
    ids=["enabled_1024", "enabled_3000", "adaptive"],
)
def test_thinking_block_comes_first(client: anthropic.Anthropic, thinking: dict[str, Any]) -> None:
    model = ADAPTIVE_MODEL if thinking["type"] == "adaptive" else MODEL
    message = client.messages.create(model=model, max_tokens=4000, messages=[{"role": "user", "content": PROMPT}], thinking=thinking)
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
    events = raw_stream(http, body(thinking={"type": "adaptive", "display": "omitted"}, model=ADAPTIVE_MODEL))
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


# --------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# The API's rules
# --------------------------------------------------------------------------


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
    model = ADAPTIVE_MODEL if thinking["type"] == "adaptive" else MODEL
    response = post(http, body(max_tokens=2048, thinking=thinking, tools=TOOLS, tool_choice=choice, model=model))
    assert error(response) == "Thinking may not be enabled when tool_choice forces tool use."
    allowed = ok(http, body(max_tokens=2048, thinking=thinking, tools=TOOLS, tool_choice={"type": "auto"}, model=model))
    assert allowed["content"][0]["type"] == "thinking"


def test_thinking_disabled(http: httpx.Client) -> None:
    message = ok(http, body(thinking={"type": "disabled"}))
    assert [b["type"] for b in message["content"]] == ["text"]
