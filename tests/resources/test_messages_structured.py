"""Structured outputs over real HTTP: JSON answers (``output_config.format`` and the
deprecated ``output_format``), strict tools, effort, and what the API refuses.

The official SDK (strict response validation) parses the answers into pydantic
models, streamed and not; raw SSE shows the text deltas join to the very JSON
of the non-streamed answer; every answer and strict tool input is validated
against its schema with a JSON Schema validator. Spec:
structured-outputs-and-server-tools.md (a).
"""

from __future__ import annotations

import datetime
import enum
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import anthropic
import httpx
import jsonschema
import pytest
from anthropic.lib._parse._transform import transform_schema
from conftest import ServerThread
from fake_openai import FakeOpenAI
from messages_wire import assistant, deltas, error, ok, post, raw, raw_stream, sdk, user
from pydantic import BaseModel, Field

from dateline.backends.openai import OpenAIBackend
from dateline.catalog import ModelInfo
from dateline.thinking import Signer
from dateline.upstream import Clients, Pool, Target, Upstream

MODEL = "claude-haiku-4-5"  # structured outputs, no effort
EFFORT_MODEL = "claude-sonnet-4-6"  # effort low…max but xhigh, default high, adaptive thinking
MEDIUM_MODEL = "claude-opus-5-5"  # default effort medium
LEGACY_BETA = "structured-outputs-2025-11-13"
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER

# -- three schemas, as pydantic models ------------------------------------------------------


class Address(BaseModel):
    street: str
    city: str
    postcode: str | None = None


class LineItem(BaseModel):
    sku: str
    description: str
    quantity: int = Field(ge=1, le=100)
    unit_price: float


class Invoice(BaseModel):
    """A nested invoice: objects in objects, a list of objects, optional and nullable members."""

    number: str
    issued: datetime.date
    bill_to: Address
    items: list[LineItem] = Field(min_length=1)
    total: float
    note: str | None = None


class Label(str, enum.Enum):
    bug = "bug"
    feature = "feature"
    question = "question"


class Triage(BaseModel):
    """An enum classification: an Enum, a Literal, a number bounded in its description."""

    label: Label
    priority: Literal["low", "medium", "high"]
    confidence: float = Field(ge=0, le=1)


class Visit(BaseModel):
    id: uuid.UUID
    email: str = Field(json_schema_extra={"format": "email"})
    at: datetime.datetime
    day: datetime.date
    ip: str = Field(json_schema_extra={"format": "ipv4"})
    site: str = Field(json_schema_extra={"format": "uri"})


class Visits(BaseModel):
    """A list of records with string formats."""

    visits: list[Visit]


PROMPTS = {
    Invoice: "Draft an invoice for three boxes of tide pool field guides sent to Ada Lovelace in London",
    Triage: "Triage this ticket: the export button crashes the app when the report is empty",
    Visits: "List the visits to the tide pools site from yesterday's access log",
}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The schema the SDK sends for ``output_format=model``."""
    return transform_schema(model)


def fmt(schema: dict[str, Any]) -> dict[str, Any]:
    return {"format": {"type": "json_schema", "schema": schema}}


def request(schema: dict[str, Any], prompt: str = "Extract the contact: Ada Lovelace", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": [user(prompt)], "output_config": fmt(schema), **extra}


CONTACT = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
    "required": ["name", "email"],
    "additionalProperties": False,
}


def valid(schema: dict[str, Any], value: Any) -> None:
    jsonschema.validate(value, schema, format_checker=FORMATS)


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    with sdk(base_url) as official:
        yield official


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with raw(base_url) as plain:
        yield plain


# --------------------------------------------------------------------------
# JSON answers through the official SDK
# --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Invoice, Triage, Visits], ids=lambda m: m.__name__)
def test_parse_into_a_pydantic_model(client: anthropic.Anthropic, model: type[BaseModel]) -> None:
    parsed = client.messages.parse(model=MODEL, max_tokens=2048, messages=[user(PROMPTS[model])], output_format=model)
    assert isinstance(parsed.parsed_output, model)
    assert [b.type for b in parsed.content] == ["text"] and parsed.stop_reason == "end_turn"
    text = parsed.content[0].text
    valid(schema_of(model), json.loads(text))
    assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))  # compact, one line
    assert parsed.usage.output_tokens > 0


def test_the_answer_follows_the_conversation_and_is_deterministic(client: anthropic.Anthropic) -> None:
    ask = dict(model=MODEL, max_tokens=2048, output_format=Invoice)
    first = client.messages.parse(messages=[user(PROMPTS[Invoice])], **ask)
    again = client.messages.parse(messages=[user(PROMPTS[Invoice])], **ask)
    other = client.messages.parse(messages=[user("Invoice the harbour office for kelp survey kits")], **ask)
    assert first.content[0].text == again.content[0].text
    assert other.content[0].text != first.content[0].text


def test_required_members_come_first_then_optional_in_schema_order(client: anthropic.Anthropic) -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer"},
            "c": {"type": "boolean"},
            "d": {"type": "string"},
        },
        "required": ["d", "b"],
        "additionalProperties": False,
    }
    seen_optional = False
    for n in range(8):
        message = client.messages.create(**request(schema, f"Fill in record {n} about tide pools"))
        keys = list(json.loads(message.content[0].text))
        assert keys[:2] == ["b", "d"] and keys[2:] == [k for k in ("a", "c") if k in keys]
        seen_optional |= len(keys) > 2
    assert seen_optional


def test_any_top_level_type(client: anthropic.Anthropic) -> None:
    for schema in (
        {"type": "array", "items": {"type": "string", "format": "date"}, "minItems": 1},
        {"type": "string", "enum": ["yes", "no"]},
        {"type": "integer"},
        {"anyOf": [{"type": "null"}, {"type": "number"}]},
    ):
        message = client.messages.create(**request(schema, "Answer about tide pools"))
        valid(schema, json.loads(message.content[0].text))


@pytest.mark.parametrize("model", [Invoice, Triage, Visits], ids=lambda m: m.__name__)
def test_sdk_stream_parses_the_same_answer(client: anthropic.Anthropic, model: type[BaseModel]) -> None:
    ask = dict(model=MODEL, max_tokens=2048, messages=[user(PROMPTS[model])], output_format=model)
    whole = client.messages.parse(**ask)
    with client.messages.stream(**ask) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == whole.content[0].text
    assert isinstance(final.parsed_output, model) and final.parsed_output == whole.parsed_output


@pytest.mark.parametrize("model", [Invoice, Triage, Visits], ids=lambda m: m.__name__)
def test_raw_text_deltas_join_to_the_non_streamed_json(http: httpx.Client, model: type[BaseModel]) -> None:
    body = request(schema_of(model), PROMPTS[model], max_tokens=2048)
    whole = ok(http, body)
    events = raw_stream(http, body)
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == ["text"]
    pieces = deltas(events, 0, "text_delta", "text")
    assert len(pieces) > 1 and "".join(pieces) == whole["content"][0]["text"]
    model.model_validate_json("".join(pieces))
    final = next(e for e in events if e["type"] == "message_delta")
    assert final["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


def test_with_thinking_the_json_comes_after_the_thinking(client: anthropic.Anthropic) -> None:
    parsed = client.messages.parse(
        model=EFFORT_MODEL,
        max_tokens=4096,
        messages=[user(PROMPTS[Triage])],
        thinking={"type": "adaptive"},
        output_format=Triage,
    )
    assert [b.type for b in parsed.content] == ["thinking", "text"]
    assert isinstance(parsed.parsed_output, Triage)


def test_max_tokens_cuts_the_json(http: httpx.Client) -> None:
    whole = ok(http, request(schema_of(Invoice), PROMPTS[Invoice], max_tokens=2048))["content"][0]["text"]
    cut = ok(http, request(schema_of(Invoice), PROMPTS[Invoice], max_tokens=6))
    assert cut["stop_reason"] == "max_tokens" and cut["usage"]["output_tokens"] == 6
    text = cut["content"][0]["text"]
    assert whole.startswith(text) and len(text) < len(whole)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_a_tool_call_under_a_format_has_no_prose_and_the_answer_after_it_is_json(http: httpx.Client) -> None:
    weather = {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    body = request(CONTACT, "Use get_weather for Oslo, then give me the contact", tools=[weather])
    called = ok(http, body)
    assert [b["type"] for b in called["content"]] == ["tool_use"]
    call = called["content"][0]
    result = {"type": "tool_result", "tool_use_id": call["id"], "content": "Sunny, 21 C"}
    answered = ok(http, {**body, "messages": [*body["messages"], assistant(called["content"]), user([result])]})
    valid(CONTACT, json.loads(answered["content"][0]["text"]))


# --------------------------------------------------------------------------
# Strict tools
# --------------------------------------------------------------------------

STRICT_TOOLS = [
    {
        "name": "file_invoice",
        "description": "File an invoice.",
        "strict": True,
        "input_schema": schema_of(Invoice),
    },
    {
        "name": "book_visit",
        "strict": True,
        "input_schema": {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "party": {"type": ["integer", "null"]},
                "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
                "kind": {"type": "string", "enum": ["guided", "self"]},
                "contact": {"$ref": "#/$defs/contact"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            "required": ["when", "code", "kind", "contact"],
            "additionalProperties": False,
            "$defs": {
                "contact": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "format": "email"},
                        "host": {"type": "string", "format": "hostname"},
                    },
                    "required": ["email"],
                    "additionalProperties": False,
                }
            },
        },
    },
]


@pytest.mark.parametrize("n", range(6))
def test_strict_tool_inputs_are_valid(client: anthropic.Anthropic, n: int) -> None:
    for tool in STRICT_TOOLS:
        message = client.messages.create(
            model=MODEL,
            max_tokens=2048,
            messages=[user(f"Request {n}: please handle the tide pool visit for Ada")],
            tools=STRICT_TOOLS,
            tool_choice={"type": "tool", "name": tool["name"]},
        )
        (call,) = [b for b in message.content if b.type == "tool_use"]
        assert call.name == tool["name"] and message.stop_reason == "tool_use"
        valid(tool["input_schema"], call.input)
        required = tool["input_schema"]["required"]
        assert list(call.input)[: len(required)] == [k for k in tool["input_schema"]["properties"] if k in required]


def test_a_strict_tool_input_streams_as_the_same_json(http: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 2048,
        "messages": [user("Book a guided visit")],
        "tools": STRICT_TOOLS,
        "tool_choice": {"type": "tool", "name": "book_visit"},
    }
    whole = ok(http, body)["content"][0]["input"]
    events = raw_stream(http, body)
    assert json.loads("".join(deltas(events, 0, "input_json_delta", "partial_json"))) == whole


# --------------------------------------------------------------------------
# The deprecated output_format
# --------------------------------------------------------------------------


def legacy(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [user("Extract the contact: Ada Lovelace")],
        "output_format": {"type": "json_schema", "schema": schema},
        **extra,
    }


def test_output_format_without_its_beta_is_refused(http: httpx.Client, client: anthropic.Anthropic) -> None:
    assert error(post(http, legacy(CONTACT))) == "output_format: Extra inputs are not permitted"
    body = legacy(CONTACT)
    with pytest.raises(TypeError):  # the SDK itself takes it no more [SO]
        client.messages.create(**body)
    output_format = body.pop("output_format")
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(**body, extra_body={"output_format": output_format})
    assert refused.value.body["error"]["message"] == "output_format: Extra inputs are not permitted"
    answered = client.messages.create(
        **body, extra_body={"output_format": output_format}, extra_headers={"anthropic-beta": LEGACY_BETA}
    )
    valid(CONTACT, json.loads(answered.content[0].text))  # type: ignore[union-attr]
    counted = http.post(
        "/v1/messages/count_tokens", json={k: v for k, v in legacy(CONTACT).items() if k != "max_tokens"}
    )
    assert error(counted) == "output_format: Extra inputs are not permitted"


def test_output_format_with_its_beta_answers_as_output_config(http: httpx.Client) -> None:
    beta = {"anthropic-beta": LEGACY_BETA}
    answered = http.post("/v1/messages", json=legacy(CONTACT), headers=beta)
    assert answered.status_code == 200, answered.text
    same = ok(http, request(CONTACT))
    assert answered.json()["content"] == same["content"]
    valid(CONTACT, json.loads(same["content"][0]["text"]))
    counted = http.post(
        "/v1/messages/count_tokens", json={k: v for k, v in legacy(CONTACT).items() if k != "max_tokens"}, headers=beta
    )
    assert counted.status_code == 200, counted.text
    # The same bytes again without the beta: remembered as valid, but not for this client.
    assert error(post(http, legacy(CONTACT))) == "output_format: Extra inputs are not permitted"


def test_output_format_errors_name_output_format(http: httpx.Client) -> None:
    beta = {"anthropic-beta": LEGACY_BETA}
    loose = {**CONTACT, "additionalProperties": True}
    assert error(http.post("/v1/messages", json=legacy(loose), headers=beta)) == (
        "output_format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"
    )
    both = legacy(CONTACT, output_config=fmt(CONTACT))
    assert error(http.post("/v1/messages", json=both, headers=beta)) == (
        "output_format: cannot be used together with `output_config.format`; "
        "use `output_config.format` (`output_format` is deprecated)"
    )


def test_a_big_body_with_output_format_is_lifted_in_the_worker_too(http: httpx.Client) -> None:
    body = legacy(CONTACT, messages=[user("Extract the contact: Ada Lovelace. " + "tide pools " * 9000)])
    assert len(json.dumps(body)) > 64 * 1024
    answered = http.post("/v1/messages", json=body, headers={"anthropic-beta": LEGACY_BETA})
    assert answered.status_code == 200, answered.text
    valid(CONTACT, json.loads(answered.json()["content"][0]["text"]))
    assert error(post(http, body)) == "output_format: Extra inputs are not permitted"


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------

UNSUPPORTED = [
    (
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"], "additionalProperties": False},
        "For 'integer' type, property 'minimum' is not supported",
    ),
    ({"type": "object", "properties": {}}, "For 'object' type, 'additionalProperties' must be explicitly set to false"),
    ({"type": "string", "format": "phone"}, "For 'string' type, format 'phone' is not supported"),
    ({"type": "string", "pattern": "(a)\\1"}, "For 'string' type, pattern '(a)\\1' is not supported: backreferences are not supported"),
    ({"$ref": "https://example.com/schema.json"}, "External references are not supported: '$ref' must point inside the schema (got: 'https://example.com/schema.json')"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "Schema type 'oneOf' is not supported"),
    (
        {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "additionalProperties": False}}, "$ref": "#/$defs/node"},
        "Circular reference detected in schema definitions: node -> node. Self-referencing or mutually-referencing definitions are not supported.",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "reason"), UNSUPPORTED, ids=range(len(UNSUPPORTED)))
def test_an_unsupported_schema_feature(http: httpx.Client, schema: dict[str, Any], reason: str) -> None:
    assert error(post(http, request(schema))) == f"output_config.format.schema: {reason}"
    tool = {"name": "t", "strict": True, "input_schema": {"type": "object", "properties": {"x": schema}, "required": ["x"], "additionalProperties": False}}  # fmt: skip
    if "Circular" not in reason and "$ref" not in json.dumps(schema):
        message = {"model": MODEL, "max_tokens": 64, "messages": [user("hi")], "tools": [tool]}
        assert error(post(http, message)) == f"tools.0.custom: {reason}"


def test_unsupported_features_through_the_sdk(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(**request({"type": "string", "minLength": 2}))
    assert refused.value.status_code == 400
    assert refused.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "output_config.format.schema: For 'string' type, property 'minLength' is not supported",
    }


def _wide(n: int) -> dict[str, Any]:
    """An object of ``n`` optional properties."""
    return {
        "type": "object",
        "properties": {f"p{i}": {"type": "string"} for i in range(n)},
        "additionalProperties": False,
    }


def test_too_complex(http: httpx.Client) -> None:
    assert ok(http, request(_wide(13)))["content"]
    assert error(post(http, request(_wide(14)))) == "Schema is too complex for compilation."
    nullable = {"type": "object", "properties": {f"p{i}": {"type": ["string", "null"]} for i in range(17)}, "required": [f"p{i}" for i in range(17)], "additionalProperties": False}  # fmt: skip
    assert error(post(http, request(nullable))).startswith(
        "Schemas contains too many parameters with union types (17 parameters with type arrays or anyOf)."
    )
    tools = [{"name": f"t{i}", "strict": True, "input_schema": _wide(1)} for i in range(21)]
    assert error(post(http, {**request(CONTACT), "tools": tools})).startswith(
        "Too many strict tools (21). The maximum number of strict tools supported is 20."
    )
    twelve = [{"name": f"t{i}", "strict": True, "input_schema": _wide(2)} for i in range(12)]  # 24 optional
    assert post(http, {**request(CONTACT), "tools": twelve}).status_code == 200
    assert error(post(http, {**request(_wide(2)), "tools": twelve})) == (
        "Schemas contains too many optional parameters (26), which would make grammar compilation inefficient. "
        "Reduce the number of optional parameters in your tool schemas (limit: 24)."
    )


def test_citations_and_a_format(http: httpx.Client) -> None:
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "Tide pools hold anemones."},
        "citations": {"enabled": True},
    }
    body = request(CONTACT, messages=[user([document, {"type": "text", "text": "Who lives there?"}])])
    assert error(post(http, body)) == (
        "messages.0.content.0: citations cannot be enabled when `output_config.format` is set: "
        "structured outputs are incompatible with citations"
    )
    del body["output_config"]
    assert ok(http, body)["content"]


def test_prefill_and_a_format(http: httpx.Client) -> None:
    body = request(CONTACT, messages=[user("Extract the contact"), assistant('{"name":')])
    assert error(post(http, body)) == (
        "Prefilling the assistant message is not supported when `output_config.format` is set. "
        "The conversation must end with a user message."
    )
    del body["output_config"]
    assert ok(http, body)["content"]


def test_a_top_level_combinator_in_any_tool_schema(http: httpx.Client) -> None:
    tool = {"name": "t", "input_schema": {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}
    body = {"model": MODEL, "max_tokens": 64, "messages": [user("hi")], "tools": [tool]}
    assert error(post(http, body)) == (
        "tools.0.custom.input_schema: input_schema does not support oneOf, allOf, or anyOf at the top level"
    )


def test_count_tokens_compiles_nothing(http: httpx.Client) -> None:
    unsupported = request({"type": "string", "minLength": 2})
    assert error(post(http, unsupported)).endswith("property 'minLength' is not supported")
    del unsupported["max_tokens"]
    counted = http.post("/v1/messages/count_tokens", json=unsupported)
    assert counted.status_code == 200, counted.text
    assert counted.json()["input_tokens"] > 0
    wide = {k: v for k, v in request(_wide(30)).items() if k != "max_tokens"}
    assert http.post("/v1/messages/count_tokens", json=wide).status_code == 200


OLD = ModelInfo(
    id="claude-before-structured", max_input_tokens=200_000, max_tokens=8192, features=frozenset({"messages"})
)


@pytest.fixture(scope="module")
def old(served: ServerThread) -> Iterator[httpx.Client]:
    """A server whose catalog also lists a model without structured outputs."""
    served.state.catalog.add(OLD)
    with raw(served.base_url) as plain:
        yield plain


def test_a_model_without_structured_outputs(old: httpx.Client) -> None:
    body = {**request(CONTACT), "model": OLD.id}
    assert (
        error(post(old, body))
        == "output_config.format: 'claude-before-structured' does not support structured outputs."
    )
    beta = {"anthropic-beta": LEGACY_BETA}
    assert error(old.post("/v1/messages", json={**legacy(CONTACT), "model": OLD.id}, headers=beta)) == (
        "output_format: 'claude-before-structured' does not support structured outputs."
    )
    strict = {"model": OLD.id, "max_tokens": 64, "messages": [user("hi")], "tools": [{**STRICT_TOOLS[1]}]}
    assert error(post(old, strict)) == (
        "tools.0.strict: 'claude-before-structured' does not support strict tool use (structured outputs)."
    )
    assert ok(old, {**strict, "tools": [{**STRICT_TOOLS[1], "strict": False}]})["content"]


# --------------------------------------------------------------------------
# Effort
# --------------------------------------------------------------------------


def thought(client: anthropic.Anthropic, model: str, **extra: Any) -> str:
    message = client.messages.create(
        model=model,
        max_tokens=4096,
        messages=[user("How do tide pools survive the winter storms?")],
        thinking={"type": "adaptive"},
        **extra,
    )
    assert message.content[0].type == "thinking" and message.content[-1].type == "text"
    return message.content[0].thinking


def test_effort_sets_how_long_the_model_thinks(client: anthropic.Anthropic) -> None:
    levels = ("low", "medium", "high", "max")  # Sonnet 4.6 has no xhigh
    thoughts = [thought(client, EFFORT_MODEL, output_config={"effort": level}) for level in levels]
    lengths = [len(t) for t in thoughts]
    assert lengths == sorted(set(lengths)), lengths
    assert thoughts == [thought(client, EFFORT_MODEL, output_config={"effort": level}) for level in levels]
    assert thought(client, EFFORT_MODEL) == thoughts[2]  # unset: the model's default, high


def test_effort_defaults_to_the_models_default(client: anthropic.Anthropic) -> None:
    unset = thought(client, MEDIUM_MODEL)
    assert unset == thought(client, MEDIUM_MODEL, output_config={"effort": "medium"})
    assert len(unset) < len(thought(client, MEDIUM_MODEL, output_config={"effort": "xhigh"}))


def test_effort_and_a_format_together(client: anthropic.Anthropic) -> None:
    low = client.messages.parse(
        model=EFFORT_MODEL,
        max_tokens=4096,
        messages=[user(PROMPTS[Triage])],
        thinking={"type": "adaptive"},
        output_config={"effort": "low"},
        output_format=Triage,
    )
    high = client.messages.parse(
        model=EFFORT_MODEL,
        max_tokens=4096,
        messages=[user(PROMPTS[Triage])],
        thinking={"type": "adaptive"},
        output_config={"effort": "max"},
        output_format=Triage,
    )
    assert isinstance(low.parsed_output, Triage) and isinstance(high.parsed_output, Triage)
    assert len(low.content[0].thinking) < len(high.content[0].thinking)  # type: ignore[union-attr]


# --------------------------------------------------------------------------
# Batches and the openai backend
# --------------------------------------------------------------------------


def test_batches_run_the_same_checks(served: ServerThread) -> None:
    with anthropic.Anthropic(
        base_url=served.base_url, api_key="k", max_retries=0, _strict_response_validation=True
    ) as c:
        requests = [
            {"custom_id": "fine", "params": request(CONTACT)},
            {"custom_id": "loose", "params": request({"type": "object", "properties": {}})},
        ]
        batch = c.messages.batches.create(requests=requests)
        deadline = time.monotonic() + 60
        while c.messages.batches.retrieve(batch.id).processing_status != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        results = {r.custom_id: r.result for r in c.messages.batches.results(batch.id)}
    assert results["fine"].type == "succeeded"
    valid(CONTACT, json.loads(results["fine"].message.content[0].text))  # type: ignore[union-attr]
    assert results["loose"].type == "errored"
    assert results["loose"].error.error.message == (  # type: ignore[union-attr]
        "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def through_openai(upstream: FakeOpenAI) -> Iterator[ServerThread]:
    target = Target(Upstream(name="fake", kind="openai", base_url=upstream.base_url + "/v1"), "fake-model")
    backend = OpenAIBackend(Pool([target]), Clients(), Signer("k"))
    with ServerThread(backend=backend) as server:
        yield server


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_backend_asks_for_a_json_schema(
    through_openai: ServerThread, upstream: FakeOpenAI, stream: bool
) -> None:
    upstream.clear()
    answer = '{"label":"bug","priority":"high","confidence":0.9}'
    upstream.reply(answer)
    with sdk(through_openai.base_url) as client:
        ask = dict(model="claude-sonnet-5", max_tokens=512, messages=[user(PROMPTS[Triage])], output_format=Triage)
        if stream:
            with client.messages.stream(**ask) as streaming:
                parsed = streaming.get_final_message()
        else:
            parsed = client.messages.parse(**ask)
    assert parsed.parsed_output == Triage(label=Label.bug, priority="high", confidence=0.9)
    (sent,) = upstream.chats()
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Triage", "schema": schema_of(Triage), "strict": True},
    }
    assert "output_config" not in sent and bool(sent.get("stream")) is stream


def _required(n: int, item: dict[str, Any]) -> dict[str, Any]:
    """An object of ``n`` required properties, each ``item``."""
    names = [f"p{i}" for i in range(n)]
    return {
        "type": "object",
        "properties": dict.fromkeys(names, item),
        "required": names,
        "additionalProperties": False,
    }


def test_too_big_an_answer_is_too_complex(http: httpx.Client) -> None:
    """Dateline's threshold: a smallest answer of more than 4,096 values (README)."""
    assert valid_answer(http, _required(1000, {"type": "string"}))
    assert error(post(http, request(_required(5000, {"type": "string"})))) == "Schema is too complex for compilation."
    # Small as written, big once its definitions are used again and again.
    nested = {
        "$defs": {
            "a": _required(20, {"type": "string"}),
            "b": _required(20, {"$ref": "#/$defs/a"}),
            "c": _required(20, {"$ref": "#/$defs/b"}),
        },
        **_required(2, {"$ref": "#/$defs/c"}),
    }
    assert len(json.dumps(nested)) < 4000
    assert error(post(http, request(nested))) == "Schema is too complex for compilation."
    tool = {"name": "t", "strict": True, "input_schema": nested}
    message = {"model": MODEL, "max_tokens": 64, "messages": [user("hi")], "tools": [tool]}
    assert error(post(http, message)) == "Schema is too complex for compilation."
    assert post(http, {**message, "tools": [{**tool, "strict": False}]}).status_code == 200


def valid_answer(http: httpx.Client, schema: dict[str, Any]) -> bool:
    answer = json.loads(ok(http, request(schema, max_tokens=64000))["content"][0]["text"])
    valid(schema, answer)
    return True


def test_required_members_are_followed_all_the_way_down(http: httpx.Client) -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(20):
        deep = _required(1, deep)
    assert valid_answer(http, deep)
