"""Structured outputs in the built-in model: the answer as JSON, and what seeds it.

With ``output_config.format`` the model's direct output is one text block whose
text is JSON valid against the schema (thinking and tool calls are outside the
grammar). The value comes from the same generator as tool inputs, written
compactly, so a streamed answer's text deltas join to exactly this text.
"""

from __future__ import annotations

import random
from typing import Any

from ..catalog import ModelInfo
from ._effort import effort
from ._tool_input import generate_json, json_text


def output_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    """The schema the answer must match, or None."""
    fmt = (request.get("output_config") or {}).get("format")
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    return schema if isinstance(schema, dict) else None


def json_answer(schema: dict[str, Any], rng: random.Random, context: str) -> str:
    """The answer's text: a value for ``schema`` drawn from the conversation, as compact JSON."""
    return json_text(generate_json(schema, seed=rng.getrandbits(64), context=context))


def shaping(request: dict[str, Any], info: ModelInfo | None) -> dict[str, Any] | None:
    """What of ``output_config`` shapes the answer, for the seed (None: nothing, as before
    output_config existed). An effort equal to the model's default is left out, so
    saying it and leaving it unsaid give the same answer."""
    config = request.get("output_config") or {}
    out: dict[str, Any] = {}
    if config.get("format") is not None:
        out["format"] = config["format"]
    level = effort(request, info)
    if level is not None and level != (info.default_effort if info is not None else None):
        out["effort"] = level
    return out or None
