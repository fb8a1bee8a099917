"""Malformed request bodies, over real HTTP: always a 4xx with the error envelope, never a 500.

The table breaks a valid Messages, count_tokens or Text Completions body in one
place each; a hypothesis test then breaks valid bodies at random places.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _wire import COMPLETION, COUNT, MESSAGE, assert_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MESSAGES, COUNT_TOKENS, COMPLETE = "/v1/messages", "/v1/messages/count_tokens", "/v1/complete"
BASE = {MESSAGES: MESSAGE, COUNT_TOKENS: COUNT, COMPLETE: COMPLETION}
DROP = object()

TOOL = {
    "name": "get_weather",
    "description": "Weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
TOOL_TURNS = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": [TOOL_USE]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"}]},
]


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as raw:
        yield raw


def patched(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with values set (or dropped, with DROP) at dotted paths: ``messages__0__role="bot"``."""
    body = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is DROP:
            del node[key]
        else:
            node[key] = value
    return body


def msg(**changes: Any) -> dict[str, Any]:
    return patched(MESSAGE, **changes)


def count(**changes: Any) -> dict[str, Any]:
    return patched(COUNT, **changes)


def compl(**changes: Any) -> dict[str, Any]:
    return patched(COMPLETION, **changes)


def user(content: Any) -> dict[str, Any]:
    return msg(messages=[{"role": "user", "content": content}])


def block(**fields: Any) -> dict[str, Any]:
    return user([fields])


# (id, path, body, status, start of the message or None)
CASES: list[tuple[str, str, Any, int, str | None]] = [
    # --- Messages: required fields ---
    ("no-model", MESSAGES, msg(model=DROP), 400, "model: Field required"),
    ("no-max-tokens", MESSAGES, msg(max_tokens=DROP), 400, "max_tokens: Field required"),
    ("no-messages", MESSAGES, msg(messages=DROP), 400, "messages: Field required"),
    ("empty-object", MESSAGES, {}, 400, None),
    # --- Messages: model ---
    ("model-int", MESSAGES, msg(model=123), 400, "model:"),
    ("model-null", MESSAGES, msg(model=None), 400, "model:"),
    ("model-list", MESSAGES, msg(model=["claude-sonnet-4-5"]), 400, "model:"),
    ("model-object", MESSAGES, msg(model={"id": "claude-sonnet-4-5"}), 400, "model:"),
    ("model-empty", MESSAGES, msg(model=""), 404, "model: "),
    ("model-unknown", MESSAGES, msg(model="claude-nonexistent-9"), 404, "model: claude-nonexistent-9"),
    ("model-huge", MESSAGES, msg(model="m" * 100_000), 404, None),
    ("model-control-chars", MESSAGES, msg(model="claude\u0000\n"), 404, None),
    # --- Messages: max_tokens ---
    # Values that only coerce to their type are refused: handlers read the body as sent.
    ("max-tokens-numeric-string", MESSAGES, msg(max_tokens="16"), 400, "max_tokens: Input should be a valid integer"),
    ("max-tokens-whole-float", MESSAGES, msg(max_tokens=16.0), 400, "max_tokens: Input should be a valid integer"),
    ("max-tokens-bool", MESSAGES, msg(max_tokens=True), 400, "max_tokens: Input should be a valid integer"),
    ("max-tokens-word", MESSAGES, msg(max_tokens="sixteen"), 400, "max_tokens:"),
    ("max-tokens-negative", MESSAGES, msg(max_tokens=-1), 400, "max_tokens:"),
    ("max-tokens-fraction", MESSAGES, msg(max_tokens=1.5), 400, "max_tokens:"),
    ("max-tokens-null", MESSAGES, msg(max_tokens=None), 400, "max_tokens:"),
    ("max-tokens-bool-list", MESSAGES, msg(max_tokens=[16]), 400, "max_tokens:"),
    ("max-tokens-huge", MESSAGES, msg(max_tokens=10**18), 400, "max_tokens: 1000000000000000000 >"),
    ("max-tokens-over-int64", MESSAGES, msg(max_tokens=10**30), 400, "max_tokens:"),
    ("max-tokens-1e308", MESSAGES, msg(max_tokens=1e308), 400, "max_tokens:"),
    ("max-tokens-over-model", MESSAGES, msg(max_tokens=10_000_000), 400, "max_tokens: 10000000 >"),
    # --- Messages: messages ---
    ("messages-string", MESSAGES, msg(messages="hi"), 400, "messages:"),
    ("messages-object", MESSAGES, msg(messages={"role": "user", "content": "hi"}), 400, "messages:"),
    ("messages-null", MESSAGES, msg(messages=None), 400, "messages:"),
    ("messages-empty", MESSAGES, msg(messages=[]), 400, "messages:"),
    ("message-int", MESSAGES, msg(messages=[1]), 400, "messages.0"),
    ("message-null", MESSAGES, msg(messages=[None]), 400, "messages.0"),
    ("message-empty", MESSAGES, msg(messages=[{}]), 400, "messages.0"),
    ("message-no-role", MESSAGES, msg(messages=[{"content": "hi"}]), 400, "messages.0"),
    ("message-no-content", MESSAGES, msg(messages=[{"role": "user"}]), 400, "messages.0"),
    ("role-bot", MESSAGES, msg(messages__0__role="bot"), 400, "messages.0"),
    ("role-empty", MESSAGES, msg(messages__0__role=""), 400, "messages.0"),
    ("role-null", MESSAGES, msg(messages__0__role=None), 400, "messages.0"),
    ("role-int", MESSAGES, msg(messages__0__role=0), 400, "messages.0"),
    ("role-upper", MESSAGES, msg(messages__0__role="USER"), 400, "messages.0"),
    ("message-unknown-field", MESSAGES, msg(messages__0__name="bob"), 400, "messages.0"),
    ("content-int", MESSAGES, user(1), 400, "messages.0"),
    ("content-null", MESSAGES, user(None), 400, "messages.0"),
    ("content-object", MESSAGES, user({"type": "text", "text": "hi"}), 400, "messages.0"),
    ("content-empty-string", MESSAGES, user(""), 400, None),
    ("content-blank-string", MESSAGES, user("   \n"), 400, None),
    ("content-empty-list", MESSAGES, user([]), 400, "messages.0"),
    ("content-list-of-int", MESSAGES, user([1]), 400, "messages.0.content.0"),
    ("content-list-of-null", MESSAGES, user([None]), 400, "messages.0.content.0"),
    ("content-list-of-string", MESSAGES, user(["hi"]), 400, "messages.0.content.0"),
    ("block-empty", MESSAGES, user([{}]), 400, "messages.0.content.0"),
    ("block-bogus-type", MESSAGES, block(type="bogus", text="hi"), 400, "messages.0.content.0"),
    ("block-type-null", MESSAGES, block(type=None, text="hi"), 400, "messages.0.content.0"),
    ("block-type-int", MESSAGES, block(type=1, text="hi"), 400, "messages.0.content.0"),
    ("text-missing", MESSAGES, block(type="text"), 400, "messages.0.content.0"),
    ("text-null", MESSAGES, block(type="text", text=None), 400, "messages.0.content.0"),
    ("text-int", MESSAGES, block(type="text", text=1), 400, "messages.0.content.0"),
    ("text-empty", MESSAGES, block(type="text", text=""), 400, None),
    ("text-extra-field", MESSAGES, block(type="text", text="hi", colour="red"), 400, "messages.0.content.0"),
    ("text-bad-cache-control", MESSAGES, block(type="text", text="hi", cache_control={"type": "forever"}), 400, None),
    ("text-bad-ttl", MESSAGES,
     block(type="text", text="hi", cache_control={"type": "ephemeral", "ttl": "1y"}), 400, None),
    ("text-citations-string", MESSAGES, block(type="text", text="hi", citations="yes"), 400, None),
    ("image-no-source", MESSAGES, block(type="image"), 400, "messages.0.content.0"),
    ("image-source-string", MESSAGES, block(type="image", source="http://x/y.png"), 400, None),
    ("image-bad-source-type", MESSAGES, block(type="image", source={"type": "ftp", "url": "x"}), 400, None),
    ("image-bad-media-type", MESSAGES,
     block(type="image", source={"type": "base64", "media_type": "image/tiff", "data": "AAAA"}), 400, None),
    ("image-no-data", MESSAGES, block(type="image", source={"type": "base64", "media_type": "image/png"}), 400, None),
    ("document-bad-source", MESSAGES, block(type="document", source={"type": "text"}), 400, None),
    ("tool-use-in-user-turn-no-id", MESSAGES, block(type="tool_use", name="t", input={}), 400, None),
    ("tool-use-input-string", MESSAGES,
     msg(messages=[{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": [{**TOOL_USE, "input": "x"}]}]),
     400, None),
    ("tool-result-no-id", MESSAGES, block(type="tool_result", content="x"), 400, "messages.0.content.0"),
    ("tool-result-unknown-id", MESSAGES, block(type="tool_result", tool_use_id="toolu_none", content="x"), 400, None),
    ("tool-result-content-int", MESSAGES, block(type="tool_result", tool_use_id="toolu_1", content=5), 400, None),
    ("tool-result-is-error-string", MESSAGES,
     msg(messages=[*TOOL_TURNS[:2], {"role": "user", "content": [
         {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x", "is_error": "maybe"}]}], tools=[TOOL]),
     400, None),
    ("tool-use-without-result", MESSAGES,
     msg(messages=[*TOOL_TURNS[:2], {"role": "user", "content": "and?"}], tools=[TOOL]), 400, None),
    ("thinking-block-no-signature", MESSAGES,
     msg(messages=[{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm"}]},
                   {"role": "user", "content": "go on"}]),
     400, "messages.1.content.0.thinking.signature: Field required"),
    ("thinking-block-forged", MESSAGES,
     msg(messages=[{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "forged"}]},
                   {"role": "user", "content": "go on"}]),
     400, "messages.1.content.0: Invalid `signature` in `thinking` block"),
    ("final-assistant-trailing-space", MESSAGES,
     msg(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure "}]), 400, None),
    # --- Messages: unknown and mistyped top-level fields ---
    ("unknown-top-level", MESSAGES, msg(foo="bar"), 400, "foo: Extra inputs are not permitted"),
    ("openai-field", MESSAGES, msg(response_format={"type": "json_object"}), 400, "response_format: Extra inputs"),
    ("null-key-field", MESSAGES, msg(**{"": 1}), 400, None),
    ("system-int", MESSAGES, msg(system=1), 400, "system"),
    ("system-list-of-int", MESSAGES, msg(system=[1]), 400, "system"),
    ("system-image-block", MESSAGES, msg(system=[{"type": "image", "source": {}}]), 400, "system"),
    ("system-object", MESSAGES, msg(system={"text": "x"}), 400, "system"),
    ("stop-sequences-string", MESSAGES, msg(stop_sequences="STOP"), 400, "stop_sequences"),
    ("stop-sequences-ints", MESSAGES, msg(stop_sequences=[1]), 400, "stop_sequences.0"),
    ("stop-sequences-null-item", MESSAGES, msg(stop_sequences=[None]), 400, "stop_sequences.0"),
    ("temperature-5", MESSAGES, msg(temperature=5), 400, "temperature:"),
    ("temperature-negative", MESSAGES, msg(temperature=-0.1), 400, "temperature:"),
    ("temperature-string", MESSAGES, msg(temperature="hot"), 400, "temperature:"),
    ("temperature-huge", MESSAGES, msg(temperature=1e308), 400, "temperature:"),
    ("temperature-numeric-string", MESSAGES, msg(temperature="0.5"), 400,
     "temperature: Input should be a valid number"),
    ("temperature-int", MESSAGES, msg(temperature=1), 200, None),
    ("top-p-2", MESSAGES, msg(top_p=2), 400, "top_p:"),
    ("top-k-negative", MESSAGES, msg(top_k=-1), 400, "top_k:"),
    ("top-k-fraction", MESSAGES, msg(top_k=1.5), 400, "top_k:"),
    ("metadata-string", MESSAGES, msg(metadata="me"), 400, "metadata"),
    ("metadata-user-id-int", MESSAGES, msg(metadata={"user_id": 1}), 400, "metadata"),
    ("metadata-unknown-key", MESSAGES, msg(metadata={"session": "x"}), 400, "metadata"),
    ("stream-string", MESSAGES, msg(stream="sometimes"), 400, "stream:"),
    ("stream-false-string", MESSAGES, msg(stream="false"), 400, "stream: Input should be a valid boolean"),
    ("stream-int", MESSAGES, msg(stream=0), 400, "stream: Input should be a valid boolean"),
    ("stream-object", MESSAGES, msg(stream={}), 400, "stream:"),
    ("service-tier-bogus", MESSAGES, msg(service_tier="platinum"), 400, "service_tier:"),
    # --- Messages: tools and tool_choice ---
    ("tools-object", MESSAGES, msg(tools=TOOL), 400, "tools"),
    ("tools-list-of-int", MESSAGES, msg(tools=[1]), 400, "tools.0"),
    ("tool-empty", MESSAGES, msg(tools=[{}]), 400, "tools.0"),
    ("tool-no-schema", MESSAGES, msg(tools=[{"name": "t"}]), 400, "tools.0"),
    ("tool-schema-string", MESSAGES, msg(tools=[{"name": "t", "input_schema": "object"}]), 400, "tools.0"),
    ("tool-schema-not-object", MESSAGES,
     msg(tools=[{"name": "t", "input_schema": {"type": "string"}}]), 400, "tools.0"),
    ("tool-schema-properties-string", MESSAGES,
     msg(tools=[{"name": "t", "input_schema": {"type": "object", "properties": "x"}}]), 400, "tools.0"),
    ("tool-schema-required-string", MESSAGES,
     msg(tools=[{"name": "t", "input_schema": {"type": "object", "required": "city"}}]), 400, "tools.0"),
    ("tool-name-spaces", MESSAGES, msg(tools=[{**TOOL, "name": "get weather"}]), 400, "tools.0"),
    ("tool-name-empty", MESSAGES, msg(tools=[{**TOOL, "name": ""}]), 400, "tools.0"),
    ("tool-name-too-long", MESSAGES, msg(tools=[{**TOOL, "name": "t" * 129}]), 400, "tools.0"),
    ("tool-name-int", MESSAGES, msg(tools=[{**TOOL, "name": 7}]), 400, "tools.0"),
    ("tool-names-duplicate", MESSAGES, msg(tools=[TOOL, TOOL]), 400, "tools: Tool names must be unique."),
    ("tool-unknown-type", MESSAGES, msg(tools=[{"type": "teleport_20990101", "name": "teleport"}]), 400, "tools.0"),
    ("tool-extra-field", MESSAGES, msg(tools=[{**TOOL, "colour": "red"}]), 400, "tools.0"),
    ("tool-choice-string", MESSAGES, msg(tools=[TOOL], tool_choice="auto"), 400, "tool_choice"),
    ("tool-choice-bogus", MESSAGES, msg(tools=[TOOL], tool_choice={"type": "bogus"}), 400, "tool_choice"),
    ("tool-choice-tool-no-name", MESSAGES, msg(tools=[TOOL], tool_choice={"type": "tool"}), 400, "tool_choice"),
    ("tool-choice-absent-tool", MESSAGES, msg(tools=[TOOL], tool_choice={"type": "tool", "name": "absent"}), 400,
     "tool_choice: Tool 'absent' not found in tools"),
    ("tool-choice-any-without-tools", MESSAGES, msg(tool_choice={"type": "any"}), 400,
     "tool_choice: tool_choice may only be specified while providing tools"),
    ("tool-choice-parallel-string", MESSAGES,
     msg(tools=[TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": "no"}), 400, "tool_choice"),
    # --- Messages: thinking ---
    ("thinking-budget-equals-max", MESSAGES,
     msg(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 2048}), 400,
     "`max_tokens` must be greater than `thinking.budget_tokens`"),
    ("thinking-budget-over-max", MESSAGES,
     msg(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 4096}), 400,
     "`max_tokens` must be greater than `thinking.budget_tokens`"),
    ("thinking-budget-small", MESSAGES, msg(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 100}), 400,
     "thinking.enabled.budget_tokens:"),
    ("thinking-no-budget", MESSAGES, msg(thinking={"type": "enabled"}), 400, "thinking"),
    ("thinking-budget-string", MESSAGES,
     msg(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": "lots"}), 400, "thinking"),
    ("thinking-budget-numeric-string", MESSAGES,
     msg(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": "2048"}), 400, "thinking"),
    ("thinking-bogus-type", MESSAGES, msg(thinking={"type": "deep"}), 400, "thinking"),
    ("thinking-string", MESSAGES, msg(thinking="enabled"), 400, "thinking"),
    ("thinking-null-type", MESSAGES, msg(thinking={"type": None}), 400, "thinking"),
    # --- count_tokens ---
    ("count-no-model", COUNT_TOKENS, count(model=DROP), 400, "model: Field required"),
    ("count-no-messages", COUNT_TOKENS, count(messages=DROP), 400, "messages: Field required"),
    ("count-max-tokens", COUNT_TOKENS, count(max_tokens=16), 400, "max_tokens: Extra inputs are not permitted"),
    ("count-stream", COUNT_TOKENS, count(stream=True), 400, "stream: Extra inputs are not permitted"),
    ("count-unknown-model", COUNT_TOKENS, count(model="nope"), 404, "model: nope"),
    ("count-messages-empty", COUNT_TOKENS, count(messages=[]), 400, "messages:"),
    ("count-role-bogus", COUNT_TOKENS, count(messages__0__role="robot"), 400, "messages.0"),
    ("count-content-null", COUNT_TOKENS, count(messages__0__content=None), 400, "messages.0"),
    ("count-system-int", COUNT_TOKENS, count(system=5), 400, "system"),
    ("count-tools-bad-schema", COUNT_TOKENS, count(tools=[{"name": "t", "input_schema": []}]), 400, "tools.0"),
    ("count-tool-choice-absent", COUNT_TOKENS, count(tools=[TOOL], tool_choice={"type": "tool", "name": "x"}), 400,
     "tool_choice: Tool 'x' not found in tools"),
    ("count-thinking-small-budget", COUNT_TOKENS, count(thinking={"type": "enabled", "budget_tokens": 5}), 400,
     "thinking.enabled.budget_tokens:"),
    ("count-metadata", COUNT_TOKENS, count(metadata={"user_id": "x"}), 400, "metadata: Extra inputs are not permitted"),
    # --- Text Completions ---
    ("complete-no-prompt", COMPLETE, compl(prompt=DROP), 400, "prompt: Field required"),
    ("complete-no-model", COMPLETE, compl(model=DROP), 400, "model: Field required"),
    ("complete-no-max", COMPLETE, compl(max_tokens_to_sample=DROP), 400, "max_tokens_to_sample: Field required"),
    ("complete-max-tokens-instead", COMPLETE, compl(max_tokens_to_sample=DROP, max_tokens=5), 400, None),
    ("complete-prompt-int", COMPLETE, compl(prompt=5), 400, "prompt:"),
    ("complete-prompt-null", COMPLETE, compl(prompt=None), 400, "prompt:"),
    ("complete-prompt-list", COMPLETE, compl(prompt=["\n\nHuman: hi\n\nAssistant:"]), 400, "prompt:"),
    ("complete-prompt-empty", COMPLETE, compl(prompt=""), 400, 'prompt must start with "\\n\\nHuman:" turn'),
    ("complete-prompt-plain", COMPLETE, compl(prompt="Hello, world"), 400,
     'prompt must start with "\\n\\nHuman:" turn'),
    ("complete-prompt-no-assistant", COMPLETE, compl(prompt="\n\nHuman: Hello, Claude"), 400,
     'prompt must end with "\\n\\nAssistant:" turn'),
    ("complete-prompt-assistant-first", COMPLETE,
     compl(prompt="\n\nAssistant: Hello, world\n\nHuman: Hello, Claude\n\nAssistant:"), 400,
     'prompt must start with "\\n\\nHuman:" turn'),
    ("complete-prompt-one-newline", COMPLETE, compl(prompt="\n\nHuman: Hello, Claude \nAssistant:"), 400,
     'prompt must end with "\\n\\nAssistant:" turn'),
    ("complete-max-zero", COMPLETE, compl(max_tokens_to_sample=0), 400, "max_tokens_to_sample:"),
    ("complete-max-negative", COMPLETE, compl(max_tokens_to_sample=-5), 400, "max_tokens_to_sample:"),
    ("complete-max-string", COMPLETE, compl(max_tokens_to_sample="many"), 400, "max_tokens_to_sample:"),
    ("complete-max-huge", COMPLETE, compl(max_tokens_to_sample=10**30), 400, "max_tokens_to_sample:"),
    ("complete-unknown-model", COMPLETE, compl(model="claude-0"), 404, "model: claude-0"),
    ("complete-unknown-field", COMPLETE, compl(messages=[]), 400, "messages: Extra inputs are not permitted"),
    ("complete-stop-string", COMPLETE, compl(stop_sequences="\n"), 400, "stop_sequences"),
    ("complete-stream-string", COMPLETE, compl(stream="please"), 400, "stream:"),
    ("complete-max-numeric-string", COMPLETE, compl(max_tokens_to_sample="16"), 400, "max_tokens_to_sample:"),
    ("complete-metadata-list", COMPLETE, compl(metadata=[]), 400, "metadata"),
    ("complete-temperature-5", COMPLETE, compl(temperature=5), 400, "temperature:"),
]


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("path", "body", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_body(http, path, body, status, message):
    response = http.post(path, json=body)
    if status == 200:  # a control: accepted as the API accepts it
        assert response.status_code == 200, response.text
        return
    envelope = assert_error(response, status, "not_found_error" if status == 404 else "invalid_request_error")
    if message is not None:
        assert envelope["error"]["message"].startswith(message), envelope["error"]["message"]


def test_the_base_bodies_are_valid(http):
    for path, body in BASE.items():
        assert http.post(path, json=body).status_code == 200
    assert http.post(MESSAGES, json=msg(messages=TOOL_TURNS, tools=[TOOL])).status_code == 200


# Raw bodies the JSON encoder of a client would never produce.
OPEN = b'{"model":"claude-sonnet-4-5","max_tokens":16,'


def saying(text: bytes) -> bytes:
    """A Messages body whose one user turn holds ``text`` verbatim, between the quotes."""
    return OPEN + b'"messages":[{"role":"user","content":"' + text + b'"}]}'


HI = b'"messages":[{"role":"user","content":"hi"}]'
RAW = [
    ("nan-literal", b'{"model":"claude-sonnet-4-5","max_tokens":NaN,' + HI + b"}"),
    ("infinity-literal", OPEN + b'"temperature":Infinity,' + HI + b"}"),
    ("minus-infinity", OPEN + b'"temperature":-Infinity,' + HI + b"}"),
    ("huge-exponent", b'{"model":"claude-sonnet-4-5","max_tokens":1e999,' + HI + b"}"),
    ("invalid-utf8", saying(b"\xc3\x28")),
    ("latin1-text", saying(b"caf\xe9")),
    ("overlong-utf8", saying(b"\xc0\xaf")),
    ("lone-high-surrogate", saying(b"\\ud800")),
    ("lone-low-surrogate", saying(b"\\udc00x")),
    ("surrogate-in-key", OPEN + b'"\\ud800":1,' + HI + b"}"),
    ("encoded-surrogate", saying(b"\xed\xa0\x80")),
    ("duplicate-keys", OPEN + b'"max_tokens":-1,' + HI + b"}"),
    ("nested-10000-arrays", OPEN + b'"messages":' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
    ("nested-10000-objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    ("nested-300-in-metadata", OPEN + HI + b',"metadata":{"user_id":' + b"[" * 300 + b"]" * 300 + b"}}"),
    ("nested-300-in-schema", OPEN + HI + b',"tools":[{"name":"t","input_schema":{"type":"object","properties":{"a":'
     + b'{"items":' * 300 + b"{}" + b"}" * 300 + b"}}}]}"),
    ("truncated", json.dumps(MESSAGE).encode()[:-3]),
    ("comment", OPEN + b"// the model\n" + HI + b"}"),
    ("single-quotes", b"{'model':'claude-sonnet-4-5'}"),
    ("trailing-comma", OPEN + b'"messages":[{"role":"user","content":"hi"},]}'),
    ("two-documents", json.dumps(MESSAGE).encode() * 2),
    ("nul-byte", saying(b"hi\x00")),
    ("utf16", json.dumps(MESSAGE).encode("utf-16")),
]


def test_raw_bodies_break_only_where_meant():
    # The scaffolding itself is valid: only the damage makes these bodies fail.
    valid = user("hi")
    assert json.loads(saying(b"hi")) == valid
    assert json.loads(OPEN + HI + b"}") == valid


@pytest.mark.parametrize("raw", [r[1] for r in RAW], ids=[r[0] for r in RAW])
@pytest.mark.parametrize("path", [MESSAGES, COUNT_TOKENS, COMPLETE])
def test_malformed_raw_body(http, path, raw):
    response = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request_error")


def test_escaped_surrogate_pair_is_fine(http):
    raw = json.dumps(msg(messages=[{"role": "user", "content": "smile \U0001f600"}]), ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in raw
    assert http.post(MESSAGES, content=raw).status_code == 200


def test_tool_schema_with_an_integer_bound_beyond_64_bits(http):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1e308}}, "required": ["n"]}
    body = msg(tools=[{"name": "t", "input_schema": schema}], tool_choice={"type": "any"})
    assert http.post(MESSAGES, json=body).status_code < 500


def test_server_survives_the_table(http):
    # After every malformed body above, the server still answers a valid request.
    assert http.post(MESSAGES, json=MESSAGE).json()["type"] == "message"


# --- random damage -----------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
RICH_MESSAGE = msg(
    max_tokens=64,
    system=[{"type": "text", "text": "Be brief."}],
    messages=[*TOOL_TURNS, {"role": "assistant", "content": "It is"}],
    tools=[TOOL],
    tool_choice={"type": "auto"},
    stop_sequences=["END"],
    temperature=0.5,
    metadata={"user_id": "u1"},
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document, as a tuple of keys and indices."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


@st.composite
def damaged(draw) -> tuple[str, dict[str, Any]]:
    path, base = draw(st.sampled_from([(MESSAGES, RICH_MESSAGE), (COUNT_TOKENS, COUNT), (COMPLETE, COMPLETION),
                                       (MESSAGES, MESSAGE)]))
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        places = paths(body)[1:]
        if not places:
            break
        where = draw(st.sampled_from(places))
        *parents, last = where
        node: Any = body
        for part in parents:
            node = node[part]
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        if action == "drop":
            del node[last]
        elif action == "replace":
            node[last] = draw(JSON_VALUES)
        else:
            target = node[last]
            if isinstance(target, dict):
                target[draw(st.text(max_size=8))] = draw(JSON_VALUES)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(JSON_VALUES))
            else:
                node[last] = draw(JSON_VALUES)
    return path, body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=damaged(), stream=st.booleans())
def test_random_damage_is_never_a_server_error(http, case, stream):
    path, body = case
    if stream and path != COUNT_TOKENS and isinstance(body, dict):
        body["stream"] = True
    response = http.post(path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code, response.json()["error"]["type"])
        return
    assert response.status_code == 200
    if response.headers["content-type"].startswith("text/event-stream"):
        assert "event: error" not in response.text
        return
    answer = response.json()
    if path == MESSAGES:
        assert answer["type"] == "message" and answer["role"] == "assistant"
        assert answer["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence", "tool_use")
        assert isinstance(answer["content"], list) and answer["usage"]["output_tokens"] >= 0
    elif path == COUNT_TOKENS:
        assert set(answer) == {"input_tokens"} and answer["input_tokens"] > 0
    else:
        assert answer["type"] == "completion" and isinstance(answer["completion"], str)
