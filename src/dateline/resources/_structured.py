"""Structured outputs on a ``create`` request: the model takes them, and the schemas compile.

``output_config.format`` and ``strict`` tools need a model with structured outputs
(the catalog's ``structured`` word); the schemas must keep to the subset and the
limits ``_output_schema`` holds, and the format cannot go with citations or a
prefill. ``count_tokens`` compiles nothing, so it runs none of this. The texts for
a model without structured outputs are Dateline's (README, "Structured outputs").
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..catalog import ModelInfo
from ..operation import Call
from . import _output_schema
from ._model_rules import known

#: Where errors name the output schema of a request that sent the deprecated ``output_format``.
_LEGACY_AT = "output_format.schema"
#: Values in the smallest answer a schema allows (its required members, one item of a
#: ``minItems: 1`` array, ``$ref`` followed) beyond which Dateline calls it too complex:
#: the API has internal limits it does not state, and the built-in model writes answers
#: of up to 5,000 values.
MAX_ANSWER_VALUES = 4096
_TOO_COMPLEX = "Schema is too complex for compilation."


def check(call: Call, info: ModelInfo | None, body: dict[str, Any]) -> None:
    tools = body.get("tools") or ()
    output_format = (body.get("output_config") or {}).get("format")
    if known(info) and not info.has("structured"):
        if output_format is not None:
            where = "output_format" if _legacy(call) else "output_config.format"
            raise errors.InvalidRequestError(f"{where}: '{info.id}' does not support structured outputs.")
        for i, tool in enumerate(tools):
            if tool.get("strict") is True:
                raise errors.InvalidRequestError(
                    f"tools.{i}.strict: '{info.id}' does not support strict tool use (structured outputs)."
                )
    for i, tool in enumerate(tools):
        if "input_schema" in tool:
            _output_schema.check_input_schema(i, tool["input_schema"])
    _output_schema.check_compatible(body)
    if _legacy(call):
        _output_schema.check_structured(body, format_at=_LEGACY_AT)
    else:
        _output_schema.check_structured(body)
    strict = [t["input_schema"] for t in tools if t.get("strict") is True and "input_schema" in t]
    for schema in (*strict, output_format.get("schema")) if output_format is not None else strict:
        _check_size(schema)


def _check_size(schema: Any) -> None:
    """Refuse a schema (already in the subset: no cycles) whose smallest answer is too big."""
    sizes: dict[str, int] = {}  # by $ref: each definition counted once however often it is used

    def size(s: Any) -> int:
        if not isinstance(s, dict):
            return 1
        n = 1
        ref = s.get("$ref")
        if isinstance(ref, str):
            if ref not in sizes:
                sizes[ref] = size(_resolve(schema, ref))
            n += sizes[ref]
        props = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        n += sum(size(props.get(name)) for name in s.get("required") or () if name in props)
        if s.get("minItems") == 1:
            n += size(s.get("items"))
        n += max((size(b) for b in s.get("anyOf") or ()), default=0)  # the generator may take any branch
        n += sum(size(b) for b in s.get("allOf") or ())
        if n > MAX_ANSWER_VALUES:
            raise errors.InvalidRequestError(_TOO_COMPLEX)
        return n

    try:
        size(schema)
    except RecursionError:
        raise errors.InvalidRequestError(_TOO_COMPLEX) from None


def _resolve(root: Any, ref: str) -> Any:
    node = root
    for part in ref[2:].split("/") if ref.startswith("#/") else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _legacy(call: Call) -> bool:
    """Whether the client sent the format as the deprecated top-level ``output_format``."""
    return isinstance(call.sent, dict) and "output_format" in call.sent
