"""Generated tool inputs and JSON answers must validate against their schema."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Literal, Optional

import pytest
from anthropic import transform_schema
from claude_code import BASH, CODING_TOOLS, DRAFT7, GLOB, GREP, READ, TASK, TODO_WRITE, WEB_FETCH
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter

from dateline.backends._tool_input import generate_json, generate_tool_input, json_text, validate_tool_input
from dateline.resources._output_schema import check_schema

CONTEXT = "Find where the retry budget is configured and explain the backoff policy"

TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["label", "children"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {"root": {"$ref": "#/$defs/node"}},
    "required": ["root"],
}
LINKED_LIST = {  # recursion that must end through the null branch
    "$defs": {
        "item": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "next": {"anyOf": [{"$ref": "#/$defs/item"}, {"type": "null"}]},
            },
            "required": ["value", "next"],
        }
    },
    "type": "object",
    "properties": {"head": {"$ref": "#/$defs/item"}},
    "required": ["head"],
}
GET_WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}
VARIED = {
    "draft7_definitions": {
        "$schema": DRAFT7,
        "definitions": {"tag": {"type": "string", "maxLength": 12}},
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"$ref": "#/definitions/tag"}, "minItems": 2}},
        "required": ["tags"],
    },
    "tree": TREE,
    "linked_list": LINKED_LIST,
    "any_of": {
        "type": "object",
        "properties": {
            "target": {"anyOf": [{"type": "string", "format": "email"}, {"type": "integer", "minimum": 1}]},
            "maybe": {"type": ["string", "null"]},
        },
        "required": ["target", "maybe"],
    },
    "one_of_tagged": {
        "type": "object",
        "properties": {
            "shape": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "kind": {"const": "circle"},
                            "radius": {"type": "number", "exclusiveMinimum": 0},
                        },
                        "required": ["kind", "radius"],
                    },
                    {
                        "type": "object",
                        "properties": {"kind": {"const": "square"}, "side": {"type": "integer", "minimum": 1}},
                        "required": ["kind", "side"],
                    },
                ]
            }
        },
        "required": ["shape"],
    },
    "all_of": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer", "maximum": -5}}, "required": ["b"]},
        ]
    },
    "enum_const": {
        "type": "object",
        "properties": {
            "mode": {"enum": ["fast", "slow", 3, None]},
            "version": {"const": "2024-01"},
            "nested": {"const": {"x": [1, 2]}},
        },
        "required": ["mode", "version", "nested"],
    },
    "nested_arrays": {
        "type": "object",
        "properties": {
            "matrix": {
                "type": "array",
                "minItems": 2,
                "maxItems": 3,
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 4,
                    "items": {"type": "integer", "minimum": 0, "maximum": 9},
                },
            },
            "pairs": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "items": False},
        },
        "required": ["matrix", "pairs"],
    },
    "numeric_bounds": {
        "type": "object",
        "properties": {
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "count": {"type": "integer", "exclusiveMinimum": 10, "maximum": 12},
            "negative": {"type": "integer", "maximum": -1000},
            "huge": {"type": "integer", "minimum": 10**12},
            "exact": {"type": "number", "minimum": 2.5, "maximum": 2.5},
            "step": {"type": "integer", "multipleOf": 15, "minimum": 1},
            "cents": {"type": "number", "multipleOf": 0.25},
            "timeout": {"type": "integer", "minimum": 1, "maximum": 30},
        },
        "required": ["ratio", "count", "negative", "huge", "exact", "step", "cents", "timeout"],
    },
    "draft4_exclusive": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 5, "exclusiveMinimum": True, "maximum": 6}},
        "required": ["n"],
    },
    "string_lengths": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "minLength": 6, "maxLength": 6},
            "long": {"type": "string", "minLength": 300},
            "short": {"type": "string", "maxLength": 3},
            "empty": {"type": "string", "maxLength": 0},
            "path": {"type": "string", "maxLength": 5},
        },
        "required": ["code", "long", "short", "empty", "path"],
    },
    "formats": {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email"},
            "homepage": {"type": "string", "format": "uri"},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "id": {"type": "string", "format": "uuid"},
            "host": {"type": "string", "format": "hostname"},
            "ip": {"type": "string", "format": "ipv4"},
            "ip6": {"type": "string", "format": "ipv6"},
            "wait": {"type": "string", "format": "duration"},
            "at": {"type": "string", "format": "time"},
        },
        "required": ["email", "homepage", "when", "day", "id", "host", "ip", "ip6", "wait", "at"],
    },
    "closed": {
        "type": "object",
        "properties": {"only": {"type": "string"}},
        "required": ["only"],
        "additionalProperties": False,
    },
    "open_extra": {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": {"type": "integer"},
        "minProperties": 3,
    },
    "untyped_members": {
        "properties": {"anything": {}, "yes": True, "items": {"items": {"type": "integer"}}},
        "required": ["anything", "yes", "items"],
    },
    "exotic": {
        "type": "object",
        "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
            "slug": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 30},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c", "d"]}, "uniqueItems": True, "minItems": 3},
            "card": {"type": "string"},
            "cvv": {"type": "string", "pattern": "^\\d{3}$"},
            "mode": {"type": "string", "not": {"const": "off"}},
        },
        "required": ["sku", "slug", "tags"],
        "dependentRequired": {"card": ["cvv"]},
        "minProperties": 4,
    },
    "if_then": {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}, "extra": {"type": "string"}},
        "required": ["kind"],
        "if": {"properties": {"kind": {"const": "a"}}},
        "then": {"required": ["extra"]},
    },
}


def _assert_valid(schema: dict, value: object) -> None:
    assert validate_tool_input(schema, value) is None, (value, validate_tool_input(schema, value))


@pytest.mark.parametrize("tool", sorted(CODING_TOOLS))
def test_coding_tool_inputs_validate(tool):
    schema = CODING_TOOLS[tool]
    for seed in range(25):
        value = generate_tool_input(schema, seed=seed, context=CONTEXT)
        assert isinstance(value, dict)
        assert set(schema["required"]) <= value.keys() <= schema["properties"].keys()
        _assert_valid(schema, value)


@pytest.mark.parametrize("name", sorted(VARIED))
def test_varied_schemas_validate(name):
    schema = VARIED[name]
    for seed in range(25):
        _assert_valid(schema, generate_tool_input(schema, seed=seed, context=CONTEXT))


def test_values_look_like_what_a_model_would_send():
    read = generate_tool_input(READ, seed=3)
    assert read["file_path"].startswith("/") and "." in read["file_path"]  # "absolute" in the description
    command = generate_tool_input(BASH, seed=1, context=CONTEXT)["command"]
    assert command.split()[0].isalpha() and not set(command.split()) & set(
        CONTEXT.split()
    )  # a shell command, not prose
    assert "*" in generate_tool_input(GLOB, seed=2)["pattern"]
    assert generate_tool_input(WEB_FETCH, seed=4)["url"].startswith("https://")
    assert "," in generate_tool_input(GET_WEATHER, seed=5)["location"]  # "City, Region"
    assert generate_tool_input(TASK, seed=0)["subagent_type"] == "general-purpose"
    assert generate_tool_input(GREP, seed=6).get("output_mode", "count") in GREP["properties"]["output_mode"]["enum"]
    todos = generate_tool_input(TODO_WRITE, seed=7)["todos"]
    assert todos and all(t["status"] in ("pending", "in_progress", "completed") for t in todos)
    timeouts = [generate_tool_input(BASH, seed=s).get("timeout") for s in range(20)]
    assert all(t is None or (isinstance(t, int) and 0 < t <= 600000) for t in timeouts)


def test_formats_are_well_formed():
    schema = VARIED["formats"]
    value = generate_tool_input(schema, seed=11)
    local, _, domain = value["email"].partition("@")
    assert local and "." in domain
    assert value["homepage"].startswith("https://")
    datetime.fromisoformat(value["when"].replace("Z", "+00:00"))
    date.fromisoformat(value["day"])
    assert uuid.UUID(value["id"]).version == 4


def test_exotic_keywords_are_honoured():
    value = generate_tool_input(VARIED["exotic"], seed=1)
    assert len(value["tags"]) == len(set(value["tags"])) >= 3
    assert value["sku"][3] == "-" and value["sku"][4:].isdigit()


def test_optional_properties_vary_but_required_always_present():
    seen = set()
    for seed in range(40):
        value = generate_tool_input(GREP, seed=seed)
        assert "pattern" in value
        seen |= value.keys()
    assert seen == GREP["properties"].keys()


def test_empty_object_schemas():
    assert generate_tool_input({"type": "object"}, seed=1) == {}
    assert generate_tool_input({"type": "object", "properties": {}}, seed=1) == {}
    assert generate_tool_input({}, seed=1) == {}
    assert validate_tool_input({"type": "object"}, {}) is None


def test_closed_objects_add_no_extra_keys():
    for seed in range(20):
        assert generate_tool_input(VARIED["closed"], seed=seed).keys() == {"only"}


def test_recursive_tree_is_bounded():
    def depth(node):
        return 1 + max((depth(c) for c in node["children"]), default=0)

    for seed in range(20):
        value = generate_tool_input(TREE, seed=seed)
        assert depth(value["root"]) <= 6


@pytest.mark.parametrize(
    "schema",
    [
        {  # recursion that never bottoms out
            "$defs": {"a": {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "required": ["a"]}},
            "$ref": "#/$defs/a",
        },
        {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
        {
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/a"}},
            "required": ["x"],
        },
        {  # asks for millions of values
            "type": "object",
            "properties": {
                "grid": {
                    "type": "array",
                    "minItems": 3000,
                    "items": {"type": "array", "minItems": 3000, "items": {"type": "string", "minLength": 10**9}},
                }
            },
            "required": ["grid"],
        },
    ],
)
def test_pathological_schemas_return_quickly(schema):
    start = time.perf_counter()
    assert isinstance(generate_tool_input(schema, seed=0), dict)
    assert time.perf_counter() - start < 2.0


def test_same_seed_same_value_and_seeds_vary():
    for schema in (*CODING_TOOLS.values(), *VARIED.values()):
        first = generate_tool_input(schema, seed=42, context=CONTEXT)
        assert generate_tool_input(copy.deepcopy(schema), seed=42, context=CONTEXT) == first
    for schema in (BASH, GREP, TODO_WRITE, GET_WEATHER, VARIED["formats"]):
        outputs = {json.dumps(generate_tool_input(schema, seed=s, context=CONTEXT), sort_keys=True) for s in range(10)}
        assert len(outputs) > 1


def test_context_words_flow_into_free_text():
    schema = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
    context = "Summarise the quarterly revenue figures for Contoso"
    words = {"Summarise", "quarterly", "revenue", "figures", "Contoso"}
    for seed in range(10):
        assert set(generate_tool_input(schema, seed=seed, context=context)["query"].split()) <= words
    text = " ".join(generate_tool_input(TASK, seed=s, context=context)["prompt"] for s in range(5))
    assert words & set(text.split())


def test_output_does_not_alias_the_schema():
    schema = VARIED["enum_const"]
    before = copy.deepcopy(schema)
    value = generate_tool_input(schema, seed=0)
    value["nested"]["x"].append(3)
    assert schema == before


def test_invalid_schema_gives_a_message_not_an_exception():
    assert "invalid input_schema" in validate_tool_input({"type": "objekt"}, {})
    assert validate_tool_input({"type": "object", "properties": {"a": {"minLength": -1}}}, {"a": "x"})
    assert validate_tool_input({"properties": {"a": {"$ref": "#/nowhere"}}}, {"a": 1})
    assert validate_tool_input(None, {})
    assert isinstance(generate_tool_input({"type": "objekt", "properties": {"a": {"type": "string"}}}, seed=0), dict)
    assert isinstance(generate_tool_input({"properties": {"a": {"$ref": "#/nowhere"}}}, seed=0), dict)


def test_invalid_values_are_reported():
    assert validate_tool_input(BASH, {}) == "'command' is a required property"
    assert validate_tool_input(BASH, {"command": "ls", "extra": 1})
    assert validate_tool_input(TODO_WRITE, {"todos": [{"content": "x", "activeForm": "x", "status": "done"}]})
    assert validate_tool_input(WEB_FETCH, {"url": "https://example.com", "prompt": "p"}) is None


def test_unsatisfiable_schema_returns_best_effort_without_raising():
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 5, "maximum": 1},
            "s": {"type": "string", "pattern": "(?<=x)y"},
        },
        "required": ["n", "s"],
    }
    assert isinstance(generate_tool_input(schema, seed=0), dict)


# -- property test over random simple object schemas ------------------------
_NAMES = ["query", "location", "path", "url", "timeout", "limit", "email", "id", "name", "count", "flag", "items"]
_FORMATS = ["email", "uri", "date", "date-time", "uuid", "ipv4"]


def _strings():
    return st.builds(
        lambda lo, span, fmt: {"type": "string", "minLength": lo, "maxLength": lo + span, **fmt},
        st.integers(0, 5),
        st.integers(0, 30),
        st.sampled_from([{}, {}, *({"format": f} for f in _FORMATS)]),
    ).map(lambda s: {k: v for k, v in s.items() if "format" not in s or k not in ("minLength", "maxLength")})


def _numbers():
    return st.builds(
        lambda kind, lo, span, exclusive: {
            "type": kind,
            "minimum": lo,
            "maximum": lo + span + (2 if exclusive else 0),
            **({"exclusiveMinimum": lo} if exclusive else {}),
        },
        st.sampled_from(["integer", "number"]),
        st.integers(-1000, 1000),
        st.integers(0, 500),
        st.booleans(),
    )


_SCALARS = st.one_of(
    _strings(),
    _numbers(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.one_of(st.text(max_size=8), st.integers()), min_size=1, max_size=4, unique=True).map(
        lambda e: {"enum": e}
    ),
)


def _objects(children):
    return st.dictionaries(st.sampled_from(_NAMES), children, max_size=5).flatmap(
        lambda props: st.builds(
            lambda required, closed: {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": not closed,
            },
            st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
            st.booleans(),
        )
    )


def _arrays(children):
    return st.builds(
        lambda items, lo, span: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + span},
        children,
        st.integers(0, 3),
        st.integers(0, 3),
    )


_SCHEMAS = _objects(st.recursive(_SCALARS, lambda c: st.one_of(_arrays(c), _objects(c)), max_leaves=8))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_SCHEMAS, seed=st.integers(0, 2**32))
def test_random_object_schemas_always_validate(schema, seed):
    value = generate_tool_input(schema, seed=seed, context="plan a trip to Lisbon in spring")
    _assert_valid(schema, value)
    assert generate_tool_input(schema, seed=seed, context="plan a trip to Lisbon in spring") == value


# --- hostile schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        # Python's engine backtracks on these for minutes; the context feeds it long runs of x.
        {
            "type": "object",
            "properties": {"q": {"type": "string", "pattern": "(x|xx)+y$", "minLength": 40}},
            "required": ["q"],
        },
        {"type": "object", "properties": {"q": {"type": "string", "pattern": "^(?!(x|xx)+y)x{40}"}}, "required": ["q"]},
        {
            "type": "object",
            "properties": {"x" * 40: {"type": "string"}},
            "patternProperties": {"(x|xx)+y$": {}},
            "additionalProperties": False,
            "required": ["x" * 40],
        },
    ],
)
def test_patterns_are_searched_in_linear_time(schema: dict) -> None:
    started = time.monotonic()
    value = generate_tool_input(schema, seed=1, context="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx " * 3)
    assert time.monotonic() - started < 2
    assert set(value) == set(schema["required"])


def test_pattern_keywords_keep_their_meaning() -> None:
    assert validate_tool_input({"type": "string", "pattern": "^a+$"}, "aab") == "'aab' does not match '^a+$'"
    assert validate_tool_input({"type": "string", "pattern": "^a+$"}, "aaa") is None
    by_pattern = {"type": "object", "patternProperties": {"^n_": {"type": "integer"}}, "additionalProperties": False}
    assert validate_tool_input(by_pattern, {"n_1": 1}) is None
    assert validate_tool_input(by_pattern, {"n_1": "one"}) == "'one' is not of type 'integer'"
    assert (
        validate_tool_input(by_pattern, {"n_1": 1, "m": 2}) == "Additional properties are not allowed ('m' unexpected)"
    )
    # A pattern RE2 cannot run (lookaround) is not checked rather than run by a backtracking engine.
    assert validate_tool_input({"type": "string", "pattern": "^(?!a)"}, "abc") is None


def test_compiled_schemas_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from dateline.backends._tool_input import _compiled

    _compiled.clear()
    monkeypatch.setattr(_compiled, "max_bytes", 200_000)  # the same rule, at a scale a test affords
    monkeypatch.setattr(_compiled, "max_entry", 60_000)
    big = {"type": "object", "properties": {f"p_{i}": {"type": "string"} for i in range(3_000)}}
    middling = [
        {"type": "object", "properties": {f"q{n}_{i}": {"type": "string"} for i in range(1_000)}} for n in range(20)
    ]
    # Too big to compile at a sensible cost: inputs for it are generated unchecked.
    assert validate_tool_input(big, {}) == "input_schema not checked: over 60000 bytes"
    assert generate_tool_input(big, seed=1)
    for schema in middling:
        assert validate_tool_input(schema, {}) is None
    keys = list(_compiled._entries)
    assert _compiled._bytes == sum(map(len, keys)) <= 200_000
    assert all(len(key) <= 60_000 for key in keys)
    assert 0 < len(keys) < len(middling)  # the oldest middling ones made room
    _compiled.clear()


# -- structured-output answers -------------------------------------------------------------------

INVOICE = {
    "$defs": {
        "address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "postal_code": {"type": "string", "pattern": "^\\d{5}$"},
                "country": {"type": "string", "enum": ["US", "FR", "DE", "JP"]},
            },
            "required": ["street", "city", "country"],
            "additionalProperties": False,
        },
        "line": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
                "description": {"type": "string"},
                "quantity": {"type": "integer"},
                "unit_price": {"type": "number"},
                "discount": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            },
            "required": ["sku", "description", "quantity", "unit_price"],
            "additionalProperties": False,
        },
    },
    "type": "object",
    "properties": {
        "notes": {"type": ["string", "null"]},
        "invoice_id": {"type": "string", "format": "uuid"},
        "issued": {"type": "string", "format": "date"},
        "due": {"type": "string", "format": "date"},
        "currency": {"type": "string", "enum": ["USD", "EUR", "JPY"]},
        "bill_to": {"$ref": "#/$defs/address"},
        "ship_to": {"anyOf": [{"$ref": "#/$defs/address"}, {"type": "null"}]},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}, "minItems": 1},
        "total": {"type": "number"},
        "paid": {"type": "boolean"},
    },
    "required": ["invoice_id", "issued", "currency", "bill_to", "lines", "total", "paid"],
    "additionalProperties": False,
}
CLASSIFICATION = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "technical", "account", "feedback", "other"]},
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
        "priority": {"type": "integer", "enum": [1, 2, 3, 4]},
        "language": {"type": "string", "enum": ["en", "fr", "de", "ja"]},
        "labels": {
            "type": "array",
            "items": {"type": "string", "enum": ["refund", "bug", "login", "praise", "outage"]},
        },
        "confidence": {"type": "number"},
        "needs_human": {"type": "boolean"},
        "schema_version": {"const": "2025-11"},
        "escalation": {"anyOf": [{"type": "string", "enum": ["tier1", "tier2"]}, {"type": "null"}]},
    },
    "required": ["category", "sentiment", "priority", "labels", "confidence", "schema_version"],
    "additionalProperties": False,
}
RECORDS = {  # a top-level array
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "email": {"type": "string", "format": "email"},
            "seen_at": {"type": "string", "format": "date-time"},
            "birthday": {"type": "string", "format": "date"},
            "alarm": {"type": "string", "format": "time"},
            "session": {"type": "string", "format": "duration"},
            "homepage": {"type": "string", "format": "uri"},
            "host": {"type": "string", "format": "hostname"},
            "ip": {"type": "string", "format": "ipv4"},
            "ip6": {"type": "string", "format": "ipv6"},
            "ticket": {"type": "string", "pattern": "^TCK-[0-9]{6}$"},
            "role": {"type": "string", "enum": ["admin", "member", "guest"]},
        },
        "required": ["id", "email", "seen_at", "ip", "role"],
        "additionalProperties": False,
    },
}
ANSWERS = {"invoice": INVOICE, "classification": CLASSIFICATION, "records": RECORDS}
ASKS = (
    "Draft the invoice for the Contoso consulting hours in March, shipped to Lyon",
    "Classify this support ticket: I was charged twice and cannot log in",
    "List the accounts that signed in from the Berlin office last week",
)


def _required_first(schema: dict, value: dict) -> None:
    """Required members first, then optional ones, each in schema order [structured-outputs docs]."""
    order = list(schema["properties"])
    required = [k for k in order if k in schema.get("required", ())]
    expected = [k for k in required if k in value] + [k for k in order if k in value and k not in required]
    assert list(value) == expected


def _well_formed(fmt: str, text: str) -> None:
    """Stricter than jsonschema's checkers, which skip formats whose optional packages are missing."""
    checks = {
        "uuid": lambda t: uuid.UUID(t),
        "date": lambda t: date.fromisoformat(t),
        "date-time": lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")),
        "time": lambda t: clock.fromisoformat(t.replace("Z", "+00:00")),
        "duration": lambda t: re.fullmatch(r"P(T\d+[HMS])+|P\d+[YMWD].*", t) or (_ for _ in ()).throw(ValueError(t)),
        "email": lambda t: re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", t) or (_ for _ in ()).throw(ValueError(t)),
        "uri": lambda t: re.fullmatch(r"https?://[^\s/]+/\S*", t) or (_ for _ in ()).throw(ValueError(t)),
        "hostname": lambda t: (
            re.fullmatch(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]+", t) or (_ for _ in ()).throw(ValueError(t))
        ),
        "ipv4": lambda t: ipaddress.IPv4Address(t),
        "ipv6": lambda t: ipaddress.IPv6Address(t),
    }
    checks[fmt](text)


@pytest.mark.parametrize("name", ANSWERS)
def test_json_answers_are_valid_deterministic_and_varied(name: str) -> None:
    schema = ANSWERS[name]
    check_schema(schema, "output_config.format.schema")  # inside the supported subset
    by_ask: dict[str, set[str]] = {ask: set() for ask in ASKS}
    for seed in range(40):
        for ask in ASKS:
            value = generate_json(schema, seed=seed, context=ask)
            _assert_valid(schema, value)
            assert generate_json(copy.deepcopy(schema), seed=seed, context=ask) == value
            text = json_text(value)
            assert json.loads(text) == value and ": " not in text.replace('": "', "")
            by_ask[ask].add(text)
    assert all(len(answers) >= 35 for answers in by_ask.values())  # the seed varies the answer
    if name != "classification":  # ...and free text takes the conversation's words
        assert not by_ask[ASKS[0]] & by_ask[ASKS[2]]


def test_invoice_answers_read_like_invoices() -> None:
    seen_optional = set()
    for seed in range(30):
        value = generate_json(INVOICE, seed=seed, context=ASKS[0])
        _required_first(INVOICE, value)
        _required_first(INVOICE["$defs"]["address"], value["bill_to"])
        for line in value["lines"]:
            _required_first(INVOICE["$defs"]["line"], line)
            assert 1 <= line["quantity"] <= 10 and 1 <= line["unit_price"] <= 500
        uuid.UUID(value["invoice_id"])
        date.fromisoformat(value["issued"])
        assert re.fullmatch(r"\d+ \w+ Street", value["bill_to"]["street"])
        seen_optional |= value.keys() - set(INVOICE["required"])
        assert len(value["lines"]) >= 1
    assert seen_optional == {"notes", "due", "ship_to"}
    nullable = [generate_json(INVOICE, seed=s, context=ASKS[0]).get("notes", "") for s in range(60)]
    assert None in nullable and any(isinstance(n, str) for n in nullable)  # a type array varies
    assert any(w in " ".join(n for n in nullable if n) for w in ("Contoso", "consulting", "Lyon"))


def test_classification_answers_keep_to_their_enums() -> None:
    seen: dict[str, set] = {k: set() for k in ("category", "sentiment", "priority")}
    for seed in range(60):
        value = generate_json(CLASSIFICATION, seed=seed, context=ASKS[1])
        _required_first(CLASSIFICATION, value)
        assert value["schema_version"] == "2025-11"
        assert 0 <= value["confidence"] <= 1
        assert set(value["labels"]) <= {"refund", "bug", "login", "praise", "outage"}
        for key in seen:
            seen[key].add(value[key])
    assert seen["category"] == set(CLASSIFICATION["properties"]["category"]["enum"])
    assert seen["sentiment"] == {"positive", "neutral", "negative"} and seen["priority"] == {1, 2, 3, 4}


def test_record_answers_have_well_formed_formats() -> None:
    props = RECORDS["items"]["properties"]
    formats_seen = set()
    for seed in range(30):
        value = generate_json(RECORDS, seed=seed, context=ASKS[2])
        assert isinstance(value, list) and value
        for record in value:
            _required_first(RECORDS["items"], record)
            for key, text in record.items():
                fmt = props[key].get("format")
                if fmt:
                    _well_formed(fmt, text)
                    formats_seen.add(fmt)
            assert re.fullmatch(r"TCK-\d{6}", record.get("ticket", "TCK-000000"))
    assert formats_seen == {p["format"] for p in props.values() if "format" in p}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "enum": ["approve", "reject"]},
        {"type": "integer"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "string", "format": "date"},
        {"type": "array", "items": {"type": "number"}},
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"const": 42},
    ],
)
def test_json_answers_take_any_top_level_type(schema: dict) -> None:
    values = [generate_json(schema, seed=s, context=ASKS[1]) for s in range(10)]
    for value in values:
        _assert_valid(schema, value)


def test_strict_tool_inputs_put_required_members_first() -> None:
    schema = {
        "type": "object",
        "properties": {"limit": {"type": "integer"}, "query": {"type": "string"}, "site": {"type": "string"}},
        "required": ["query"],
        "additionalProperties": False,
    }
    loose = [list(generate_tool_input(schema, seed=s)) for s in range(20)]
    strict = [list(generate_tool_input(schema, seed=s, strict=True)) for s in range(20)]
    assert all(keys[0] == "query" for keys in strict)
    assert any(keys[0] == "limit" for keys in loose)  # an ordinary call keeps schema order
    assert all(validate_tool_input(schema, generate_tool_input(schema, seed=s, strict=True)) is None for s in range(20))


def test_formats_are_checked_even_without_jsonschemas_optional_packages() -> None:
    assert validate_tool_input({"type": "string", "format": "duration"}, "PT5M") is None
    assert validate_tool_input({"type": "string", "format": "duration"}, "five minutes")
    assert validate_tool_input({"type": "string", "format": "duration"}, "PT")
    assert validate_tool_input({"type": "string", "format": "hostname"}, "api.example.com") is None
    assert validate_tool_input({"type": "string", "format": "hostname"}, "-bad-.example.com")
    assert validate_tool_input({"type": "string", "format": "uri"}, "https://example.com/a") is None
    assert validate_tool_input({"type": "string", "format": "uri"}, "not a uri")


# pydantic models through the SDK's own transform, as `client.messages.parse` sends them
class Address(BaseModel):
    street: str
    city: str
    country: Literal["US", "FR", "DE", "JP"]


class LineItem(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d{4}$")
    description: str
    quantity: int = Field(ge=1)
    unit_price: float


class Invoice(BaseModel):
    number: uuid.UUID
    issued: date
    due: Optional[datetime] = None
    bill_to: Address
    lines: list[LineItem] = Field(min_length=1)
    status: Literal["draft", "sent", "paid"]
    notes: Optional[str] = None


class Ticket(BaseModel):
    category: Literal["billing", "technical", "account"]
    urgent: bool
    wait: Optional[timedelta] = None
    at: Optional[clock] = None
    tags: list[Literal["refund", "login", "bug"]]


@pytest.mark.parametrize("model", [Invoice, Ticket, list[Address]])
def test_pydantic_models_round_trip_through_the_sdks_transform(model) -> None:
    adapter = TypeAdapter(model)
    schema = transform_schema(adapter.json_schema())
    check_schema(schema, "output_config.format.schema")
    parsed = [adapter.validate_json(json_text(generate_json(schema, seed=s, context=ASKS[0]))) for s in range(25)]
    assert len({repr(p) for p in parsed}) > 20


def test_json_answers_are_fast() -> None:
    generate_json(INVOICE, seed=0)  # compiles the validator once
    start = time.perf_counter()
    for seed in range(300):
        generate_json(INVOICE, seed=seed, context=ASKS[0])
    assert (time.perf_counter() - start) / 300 < 0.005


def test_constraints_the_sdk_moved_into_descriptions_are_kept() -> None:
    # transform_schema writes what the subset lacks into the description, where a model reads it
    schema = transform_schema(
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 5, "maximum": 9, "description": "Seats"},
                "code": {"type": "string", "pattern": "^[A-Z]{2}\\d{3}$", "maxLength": 5},
            },
            "required": ["n", "code"],
        }
    )
    assert "minimum" not in schema["properties"]["n"] and "{" in schema["properties"]["n"]["description"]
    for seed in range(30):
        value = generate_json(schema, seed=seed)
        assert 5 <= value["n"] <= 9 and re.fullmatch(r"[A-Z]{2}\d{3}", value["code"])
    # an ordinary description that merely ends in a brace is left alone
    plain = {"type": "string", "description": "a JSON object such as {a: 1}"}
    assert isinstance(generate_json(plain, seed=1), str)


# Schemas inside the structured-outputs subset, any top-level type: their answers must always validate.
_SUBSET_SCALARS = st.one_of(
    st.sampled_from(
        [{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
    ),
    st.sampled_from(["date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"]).map(
        lambda f: {"type": "string", "format": f}
    ),
    st.sampled_from(["^[A-Z]{2}-\\d{3}$", "^(ab|cd)+x?$", "^[a-z0-9_.-]+@[a-z]+\\.com$", "^\\w{3,8}\\s\\d*$"]).map(
        lambda p: {"type": "string", "pattern": p}
    ),
    st.lists(
        st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none()), min_size=1, max_size=4, unique=True
    ).map(lambda e: {"enum": e}),
    st.one_of(st.text(max_size=8), st.integers(), st.none()).map(lambda c: {"const": c}),
    st.sampled_from(["string", "integer", "number", "boolean"]).map(lambda t: {"type": [t, "null"]}),
)


def _subset_objects(children):
    return st.dictionaries(st.sampled_from(_NAMES), children, max_size=5).flatmap(
        lambda props: (
            st.lists(st.sampled_from(sorted(props)), unique=True).map(
                lambda required: {
                    "type": "object",
                    "properties": props,
                    "required": required,
                    "additionalProperties": False,
                }
            )
            if props
            else st.just({"type": "object", "properties": {}, "additionalProperties": False})
        )
    )


def _subset_containers(children):
    return st.one_of(
        _subset_objects(children),
        st.builds(lambda items, lo: {"type": "array", "items": items, "minItems": lo}, children, st.integers(0, 1)),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
    )


_SUBSET = st.recursive(_SUBSET_SCALARS, _subset_containers, max_leaves=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_SUBSET, seed=st.integers(0, 2**32))
def test_answers_to_any_subset_schema_always_validate(schema: dict, seed: int) -> None:
    check_schema(schema, "output_config.format.schema")
    value = generate_json(schema, seed=seed, context="summarise the quarterly figures for Contoso")
    _assert_valid(schema, value)
    assert generate_json(schema, seed=seed, context="summarise the quarterly figures for Contoso") == value
    if schema.get("type") == "object":
        _assert_valid(schema, generate_tool_input(schema, seed=seed, strict=True))
