"""The JSON Schema subset of structured outputs and strict tools, the request's limits, the incompatibilities."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal, Optional

import pytest
from anthropic import transform_schema
from pydantic import BaseModel, Field

from dateline import errors
from dateline.resources._output_schema import (
    FORMATS,
    check_compatible,
    check_input_schema,
    check_schema,
    check_structured,
    lift_output_format,
)

AT = "output_config.format.schema"


def obj(props: dict, required: list | None = None, **extra) -> dict:
    """A closed object, every property required unless told otherwise."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


def refusal(schema: object, at: str = AT) -> str:
    with pytest.raises(errors.InvalidRequestError) as info:
        check_schema(schema, at)
    assert info.value.status_code == 400 and info.value.type == "invalid_request_error"
    return info.value.message


def request_refusal(request: dict) -> str:
    with pytest.raises(errors.InvalidRequestError) as info:
        check_structured(request)
    return info.value.message


# -- accepted --------------------------------------------------------------------------------

# fmt: off
ACCEPTED = {
    "every basic type": obj(
        {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "z": {"type": "null"},
            "a": {"type": "array", "items": {"type": "string"}},
            "o": obj({"x": {"type": "string"}}),
        }
    ),
    "top-level array": {"type": "array", "items": obj({"id": {"type": "string", "format": "uuid"}}), "minItems": 1},
    "top-level string": {"type": "string", "enum": ["yes", "no"]},
    "top-level integer": {"type": "integer"},
    "enum of primitives": obj({"e": {"enum": ["a", 1, 2.5, True, None]}}),
    "typed enum": obj({"e": {"type": "string", "enum": ["low", "high"]}, "n": {"type": "integer", "enum": [1, 2]}}),
    "const": obj({"c": {"const": "v1"}, "t": {"type": "string", "const": "x"}}),
    "anyOf": obj({"u": {"anyOf": [{"type": "string"}, {"type": "null"}]}}),
    "anyOf of objects": obj({"u": {"anyOf": [obj({"k": {"const": "a"}}), obj({"k": {"const": "b"}, "n": {"type": "integer"}})]}}),
    "allOf without $ref": {"allOf": [obj({"a": {"type": "string"}})]},
    "type array": obj({"t": {"type": ["string", "null"]}}),
    "local $ref to $defs": {"$defs": {"A": obj({"x": {"type": "string"}})}, "type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "required": ["a"], "additionalProperties": False},
    "local $ref to definitions": {"definitions": {"A": {"type": "string"}}, **obj({"a": {"$ref": "#/definitions/A"}})},
    "root $ref (pydantic RootModel)": {"$defs": {"A": obj({"x": {"type": "string"}})}, "$ref": "#/$defs/A"},
    "a definition used twice, not a cycle": {
        "$defs": {"P": obj({"x": {"type": "number"}}), "L": obj({"a": {"$ref": "#/$defs/P"}, "b": {"$ref": "#/$defs/P"}})},
        **obj({"line": {"$ref": "#/$defs/L"}, "point": {"$ref": "#/$defs/P"}}),
    },
    "default and annotations": obj(
        {"d": {"type": "string", "default": "x", "title": "D", "description": "d", "examples": ["x"], "deprecated": False}},
        required=[],
        title="T",
        description="thing",
        **{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "thing", "$comment": "c"},
    ),
    "required subset": obj({"a": {"type": "string"}, "b": {"type": "string"}}, required=["a"]),
    "minItems 0 and 1": obj({"a": {"type": "array", "items": {"type": "string"}, "minItems": 0}, "b": {"type": "array", "items": {"type": "string"}, "minItems": 1}}),
    "array without items": obj({"a": {"type": "array"}}),
    "every format": obj({f.replace("-", "_"): {"type": "string", "format": f} for f in sorted(FORMATS)}),
    "nullable format": obj({"when": {"type": ["string", "null"], "format": "date-time"}}),
    "patterns": obj(
        {
            "anchors": {"type": "string", "pattern": "^abc$"},
            "quantifiers": {"type": "string", "pattern": "^a*b+c?$"},
            "braces": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
            "ranges": {"type": "string", "pattern": "^x{2,5}y{3,}$"},
            "classes": {"type": "string", "pattern": "^[a-z0-9_.-]+\\s\\w+\\d.$"},
            "groups": {"type": "string", "pattern": "^(ab|cd)+(?:ef)?$"},
            "bound at the limit": {"type": "string", "pattern": "^a{1,1000}$"},
        }
    ),
    "unknown vendor keys ignored": obj({"a": {"type": "string", "x-order": 1, "nullable": True}}),
    "empty closed object": obj({}),
}
# fmt: on


@pytest.mark.parametrize("schema", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_supported_schemas_are_accepted(schema: dict) -> None:
    check_schema(schema, AT)


class Address(BaseModel):
    street: str
    city: str
    country: Literal["US", "FR", "JP"]


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d{4}$")
    quantity: int = Field(ge=1)
    unit_price: float


class Invoice(BaseModel):
    number: uuid.UUID
    issued: datetime.date
    due: Optional[datetime.datetime] = None
    bill_to: Address
    lines: list[Line] = Field(min_length=1)
    status: Literal["draft", "sent", "paid"]
    notes: Optional[str] = None


class Tree(BaseModel):
    label: str
    children: list[Tree]


def test_the_sdks_transformed_pydantic_schemas_are_accepted() -> None:
    # transform_schema is the SDK's own reduction of a schema to the subset
    for model in (Invoice, Address, Line):
        check_schema(transform_schema(model), AT)
    # and what it cannot reduce, the API refuses
    assert "Circular reference detected in schema definitions: Tree -> Tree." in refusal(transform_schema(Tree))


# -- refused ----------------------------------------------------------------------------------

# fmt: off
REFUSED = {
    "object without additionalProperties": (
        {"type": "object", "properties": {"a": {"type": "string"}}},
        "For 'object' type, 'additionalProperties' must be explicitly set to false",
    ),
    "nested object open": (
        obj({"o": {"type": "object", "properties": {}, "additionalProperties": True}}),
        "For 'object' type, 'additionalProperties' must be explicitly set to false",
    ),
    "additionalProperties a schema": (
        {"type": "object", "additionalProperties": {"type": "string"}},
        "For 'object' type, 'additionalProperties' must be explicitly set to false",
    ),
    "minItems 2": (
        obj({"a": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 5}}),
        "For 'array' type, 'minItems' values other than 0 or 1 are not supported (got: [2, 5])",
    ),
    "minItems unbounded": (
        {"type": "array", "items": {"type": "string"}, "minItems": 6},
        "For 'array' type, 'minItems' values other than 0 or 1 are not supported (got: [6, ∞])",
    ),
    "maxItems": ({"type": "array", "maxItems": 3}, "For 'array' type, property 'maxItems' is not supported"),
    "uniqueItems": ({"type": "array", "uniqueItems": True}, "For 'array' type, property 'uniqueItems' is not supported"),
    "contains": ({"type": "array", "contains": {"type": "string"}}, "For 'array' type, property 'contains' is not supported"),
    "prefixItems": ({"type": "array", "prefixItems": [{"type": "string"}]}, "For 'array' type, property 'prefixItems' is not supported"),
    "minimum": ({"type": "number", "minimum": 0}, "For 'number' type, property 'minimum' is not supported"),
    "minimum and maximum": (
        {"type": "integer", "minimum": 0, "maximum": 9},
        "For 'integer' type, properties maximum, minimum are not supported",
    ),
    "exclusive bounds": ({"type": "number", "exclusiveMinimum": 0}, "For 'number' type, property 'exclusiveMinimum' is not supported"),
    "multipleOf": ({"type": "integer", "multipleOf": 5}, "For 'integer' type, property 'multipleOf' is not supported"),
    "minLength": ({"type": "string", "minLength": 1}, "For 'string' type, property 'minLength' is not supported"),
    "minLength and maxLength": (
        {"type": "string", "minLength": 1, "maxLength": 9},
        "For 'string' type, properties maxLength, minLength are not supported",
    ),
    "nullable with a bound": ({"type": ["integer", "null"], "maximum": 3}, "For 'integer' type, property 'maximum' is not supported"),
    "if": (obj({}, **{"if": {"type": "object"}}), "For 'object' type, property 'if' is not supported"),
    "propertyNames": (obj({}, propertyNames={"type": "string"}), "For 'object' type, property 'propertyNames' is not supported"),
    "patternProperties": (obj({}, patternProperties={"^a": {"type": "string"}}), "For 'object' type, property 'patternProperties' is not supported"),
    "minProperties": (obj({}, minProperties=1), "For 'object' type, property 'minProperties' is not supported"),
    "a keyword of another type": ({"type": "string", "items": {"type": "string"}}, "For 'string' type, property 'items' is not supported"),
    "untyped node keyword": ({"enum": ["a"], "maxLength": 3}, "Schema keyword 'maxLength' is not supported"),
    "not": ({"type": "string", "not": {"const": "x"}}, "Schema keyword 'not' is not supported"),
    "oneOf": (obj({"u": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}), "Schema type 'oneOf' is not supported"),
    "unknown type": ({"type": "objekt"}, "Schema type 'objekt' is not supported"),
    "type missing": (obj({"a": {"description": "anything"}}), "Invalid schema: Schema type is missing for schema: {'description': 'anything'}"),
    "empty schema": ({}, "Invalid schema: Schema type is missing for schema: {}"),
    "boolean schema": (obj({"a": True}), "Invalid schema: Schema type is missing for schema: True"),
    "empty type array": ({"type": []}, "Invalid schema: Schema type is missing for schema: {'type': []}"),
    "unsupported format": ({"type": "string", "format": "phone"}, "For 'string' type, format 'phone' is not supported"),
    "format of another family": ({"type": "string", "format": "uri-reference"}, "For 'string' type, format 'uri-reference' is not supported"),
    "enum of objects": ({"enum": [{"a": 1}]}, "Enum value {'a': 1} is not supported: enum values must be strings, numbers, booleans or null"),
    "enum of arrays": ({"type": "array", "enum": [[1]]}, "Enum value [1] is not supported: enum values must be strings, numbers, booleans or null"),
    "enum beside a type array": (
        {"type": ["string", "null"], "enum": ["stock", None]},
        "Enum value 'stock' does not match declared type '['string', 'null']'",
    ),
    "enum of another type": ({"type": "string", "enum": ["a", 1]}, "Enum value '1' does not match declared type 'string'"),
    "empty enum": ({"enum": []}, "Invalid schema: 'enum' must be a non-empty array"),
    "const object": ({"const": {"a": 1}}, "Const value {'a': 1} is not supported: it must be a string, number, boolean or null"),
    "external $ref": (
        obj({"a": {"$ref": "https://example.com/a.json"}}),
        "External references are not supported: '$ref' must point inside the schema (got: 'https://example.com/a.json')",
    ),
    "anchor $ref": (obj({"a": {"$ref": "#thing"}}), "External references are not supported: '$ref' must point inside the schema (got: '#thing')"),
    "dangling $ref": (obj({"a": {"$ref": "#/$defs/missing"}}), "Reference '#/$defs/missing' does not resolve to a definition in the schema"),
    "allOf with $ref": (
        {"$defs": {"A": obj({})}, "allOf": [{"$ref": "#/$defs/A"}]},
        "'allOf' may not contain '$ref'",
    ),
    "empty anyOf": (obj({"u": {"anyOf": []}}), "Invalid schema: 'anyOf' must be a non-empty array"),
    "required not a property": (obj({"a": {"type": "string"}}, required=["a", "b"]), "For 'object' type, required property 'b' is not in 'properties'"),
    "self-recursion": (
        {"$defs": {"Node": obj({"next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}})}, "$ref": "#/$defs/Node"},
        "Circular reference detected in schema definitions: Node -> Node. "
        "Self-referencing or mutually-referencing definitions are not supported.",
    ),
    "mutual recursion": (
        {
            "$defs": {"A": obj({"b": {"$ref": "#/$defs/B"}}), "B": obj({"a": {"$ref": "#/$defs/A"}})},
            **obj({"start": {"$ref": "#/$defs/A"}}),
        },
        "Circular reference detected in schema definitions: A -> B -> A. "
        "Self-referencing or mutually-referencing definitions are not supported.",
    ),
    "recursion through the root": (
        obj({"child": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}),
        "Circular reference detected in schema definitions: # -> #. "
        "Self-referencing or mutually-referencing definitions are not supported.",
    ),
    "recursion through a plain pointer": (
        obj({"a": obj({"again": {"anyOf": [{"$ref": "#/properties/a"}, {"type": "null"}]}})}),
        "Circular reference detected in schema definitions: a -> a. "
        "Self-referencing or mutually-referencing definitions are not supported.",
    ),
    "backreference": ({"type": "string", "pattern": "^(a)\\1$"}, "For 'string' type, pattern '^(a)\\1$' is not supported: backreferences are not supported"),
    "named backreference": ({"type": "string", "pattern": "(?P<x>a)(?P=x)"}, "backreferences are not supported"),
    "lookahead": ({"type": "string", "pattern": "^(?=a)a"}, "lookahead and lookbehind assertions are not supported"),
    "negative lookbehind": ({"type": "string", "pattern": "(?<!a)b"}, "lookahead and lookbehind assertions are not supported"),
    "word boundary": ({"type": "string", "pattern": "\\bword\\b"}, "word boundaries (\\b, \\B) are not supported"),
    "non word boundary": ({"type": "string", "pattern": "a\\Bb"}, "word boundaries (\\b, \\B) are not supported"),
    "large repetition": ({"type": "string", "pattern": "^a{1,1001}$"}, "repetition bounds above 1000 are not supported"),
    "large lower bound": ({"type": "string", "pattern": "^(ab){2000,}$"}, "repetition bounds above 1000 are not supported"),
    "nested in a branch": ({"type": "string", "pattern": "^(x|(?=y)y)$"}, "lookahead and lookbehind assertions are not supported"),
    "invalid regex": ({"type": "string", "pattern": "(unclosed"}, "it is not a valid regular expression"),
    "pattern not a string": ({"type": "string", "pattern": 7}, "it must be a string"),
    "in $defs too": ({"$defs": {"A": {"type": "integer", "minimum": 1}}, **obj({})}, "For 'integer' type, property 'minimum' is not supported"),
    "in array items": ({"type": "array", "items": {"type": "string", "format": "phone"}}, "For 'string' type, format 'phone' is not supported"),
    "in anyOf branches": (obj({"u": {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null"}]}}), "For 'string' type, property 'maxLength' is not supported"),
}
# fmt: on


@pytest.mark.parametrize(("schema", "text"), REFUSED.values(), ids=REFUSED.keys())
def test_unsupported_schemas_are_refused_with_the_apis_words(schema: object, text: str) -> None:
    message = refusal(schema)
    assert message.startswith(f"{AT}: ")
    assert text in message


def test_refusals_name_where_the_schema_is() -> None:
    assert refusal({"type": "object"}, "tools.3.custom").startswith("tools.3.custom: For 'object' type")
    assert refusal({"type": "object"}, "output_format.schema").startswith("output_format.schema: For 'object'")


def test_deep_nesting_is_too_complex_not_a_crash() -> None:
    schema: dict = {"type": "string"}
    for _ in range(80):
        schema = obj({"x": schema})
    assert refusal(schema) == "Schema is too complex for compilation."


def test_a_huge_schema_is_shown_cut_short() -> None:
    message = refusal({"description": "x" * 10_000})
    assert len(message) < 400 and message.endswith("…")


# -- the request: strict tools, the output format and the limits ----------------------------------


def tool(name: str, schema: dict, strict: bool = True) -> dict:
    return {"name": name, "input_schema": schema, "strict": strict}


def test_strict_tools_and_the_output_format_are_checked_where_they_are() -> None:
    loose = {"type": "object", "properties": {"a": {"type": "string", "minLength": 3}}}
    check_structured({"tools": [tool("a", loose, strict=False)]})  # not strict: not compiled
    check_structured({"tools": [{**tool("a", loose), "strict": None}]})
    message = request_refusal({"tools": [tool("ok", obj({})), tool("bad", loose)]})
    assert message == "tools.1.custom: For 'object' type, 'additionalProperties' must be explicitly set to false"
    fmt = {"output_config": {"format": {"type": "json_schema", "schema": {"type": "integer", "minimum": 1}}}}
    assert request_refusal(fmt) == f"{AT}: For 'integer' type, property 'minimum' is not supported"
    with pytest.raises(errors.InvalidRequestError, match=r"^output_format\.schema: For 'integer'"):
        check_structured(fmt, format_at="output_format.schema")
    check_structured(
        {
            "output_config": {"effort": "high"},
            "tools": [{"type": "web_search_20250305", "name": "web_search", "strict": True}],
        }
    )


def test_at_most_twenty_strict_tools() -> None:
    twenty = [tool(f"t{i}", obj({"a": {"type": "string"}})) for i in range(20)]
    check_structured({"tools": [*twenty, tool("loose", {"type": "object"}, strict=False)]})
    assert request_refusal({"tools": [*twenty, tool("one_more", obj({}))]}) == (
        "Too many strict tools (21). The maximum number of strict tools supported is 20. "
        "Try reducing the number of tools marked as strict."
    )


def optionals(n: int, start: int = 0) -> dict:
    return obj({f"p{i}": {"type": "string"} for i in range(start, start + n)}, required=[])


def nullables(n: int, start: int = 0) -> dict:
    return obj({f"n{i}": {"type": ["string", "null"]} for i in range(start, start + n)})


def test_optional_parameters_are_summed_over_the_request() -> None:
    spread = [tool(f"t{i}", optionals(6, 6 * i)) for i in range(4)]
    check_structured({"tools": spread})  # 24 across four tools
    fmt = {"output_config": {"format": {"type": "json_schema", "schema": optionals(1)}}}
    assert request_refusal({"tools": spread, **fmt}) == (
        "Schemas contains too many optional parameters (25), which would make grammar compilation inefficient. "
        "Reduce the number of optional parameters in your tool schemas (limit: 24)."
    )
    nested = obj({"outer": obj({"inner": {"type": "string"}}, required=[])}, required=[])
    assert check_schema(nested, AT).optional == 2  # nested members count too


def test_union_parameters_are_summed_over_the_request() -> None:
    check_structured({"tools": [tool("a", nullables(8)), tool("b", nullables(8, 8))]})
    assert request_refusal({"tools": [tool("a", nullables(9)), tool("b", nullables(9, 9))]}) == (
        "Schemas contains too many parameters with union types (18 parameters with type arrays or anyOf). "
        "This causes exponential compilation cost. Reduce the number of nullable or union-typed parameters "
        "(limit: 16 parameters with unions)."
    )


def test_unions_are_counted_as_the_api_counts_them() -> None:
    variants = [obj({"kind": {"const": f"k{i}"}}) for i in range(17)]
    assert check_schema(obj({"v": {"anyOf": variants}}), AT).unions == 1  # a discriminated union is one
    inline = obj({"v": {"anyOf": [nullables(1), nullables(1, 1)]}, **nullables(14, 2)["properties"]})
    assert check_schema(inline, AT).unions == 17  # inline variants' nullables count one by one
    behind_refs = {"$defs": {"V": nullables(17)}, **obj({"v": {"anyOf": [{"$ref": "#/$defs/V"}, {"type": "null"}]}})}
    assert check_schema(behind_refs, AT).unions == 1  # not followed through $ref
    items = obj({"rows": {"type": "array", "items": nullables(3)}})
    assert check_schema(items, AT).unions == 3
    assert check_schema(obj({"e": {"type": "string", "enum": ["a", "b"]}}), AT).unions == 0


def test_too_many_branches_in_one_object_do_not_compile() -> None:
    check_structured({"tools": [tool("a", nullables(12))]})
    check_structured({"tools": [tool("a", obj({"x": nullables(8), "y": nullables(8, 8)}))]})  # per object
    assert request_refusal({"tools": [tool("a", nullables(14))]}) == "Schema is too complex for compilation."
    check_structured({"tools": [tool(f"t{i}", optionals(6, 6 * i)) for i in range(4)]})
    one_tool = {"output_config": {"format": {"type": "json_schema", "schema": optionals(24)}}}
    assert request_refusal(one_tool) == "Schema is too complex for compilation."


# -- tools in general --------------------------------------------------------------------------


def test_any_tools_schema_may_not_start_with_a_combinator() -> None:
    check_input_schema(0, {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}})
    for key in ("oneOf", "allOf", "anyOf"):
        with pytest.raises(errors.InvalidRequestError) as info:
            check_input_schema(4, {"type": "object", key: [{"type": "object"}]})
        assert info.value.message == (
            "tools.4.custom.input_schema: input_schema does not support oneOf, allOf, or anyOf at the top level"
        )


# -- incompatibilities -------------------------------------------------------------------------

FORMAT = {"output_config": {"format": {"type": "json_schema", "schema": obj({"a": {"type": "string"}})}}}
CITED = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": "x"},
    "citations": {"enabled": True},
}


def test_citations_and_an_output_format_do_not_mix() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, CITED]}]
    check_compatible({"messages": messages})
    check_compatible(
        {**FORMAT, "messages": [{"role": "user", "content": [{**CITED, "citations": {"enabled": False}}]}]}
    )
    with pytest.raises(errors.InvalidRequestError) as info:
        check_compatible({**FORMAT, "messages": messages})
    assert info.value.message.startswith(
        "messages.0.content.1: citations cannot be enabled when `output_config.format`"
    )
    result = {
        "type": "tool_result",
        "tool_use_id": "t",
        "content": [
            {"type": "search_result", "source": "s", "title": "t", "content": [], "citations": {"enabled": True}}
        ],
    }
    nested = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]},
        {"role": "user", "content": [result]},
    ]
    with pytest.raises(errors.InvalidRequestError, match=r"^messages\.2\.content\.0: citations"):
        check_compatible({**FORMAT, "messages": nested})


def test_prefill_and_an_output_format_do_not_mix() -> None:
    prefill = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{"}]
    check_compatible({"messages": prefill})
    with pytest.raises(errors.InvalidRequestError) as info:
        check_compatible({**FORMAT, "messages": prefill})
    assert info.value.message == (
        "Prefilling the assistant message is not supported when `output_config.format` is set. "
        "The conversation must end with a user message."
    )
    check_compatible({**FORMAT, "messages": prefill[:1]})


# -- the legacy field ---------------------------------------------------------------------------


def test_the_legacy_output_format_needs_its_beta() -> None:
    fmt = {"type": "json_schema", "schema": obj({})}
    body = {"model": "m", "output_format": fmt, "output_config": {"effort": "low"}}
    with pytest.raises(errors.InvalidRequestError) as info:
        lift_output_format(body, [])
    assert info.value.message == "output_format: Extra inputs are not permitted"
    lifted = lift_output_format(body, ["structured-outputs-2025-11-13"])
    assert lifted == {"model": "m", "output_config": {"effort": "low", "format": fmt}}
    assert "output_format" in body  # the client's body is left as it came
    assert lift_output_format({"model": "m"}, []) == {"model": "m"}
    with pytest.raises(errors.InvalidRequestError, match="^output_format: cannot be used together"):
        lift_output_format({**body, "output_config": {"format": fmt}}, ["structured-outputs-2025-11-13"])
