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


def _legacy(call: Call) -> bool:
    """Whether the client sent the format as the deprecated top-level ``output_format``."""
    return isinstance(call.sent, dict) and "output_format" in call.sent
