"""``output_config.effort`` in the built-in model: how long it thinks.

Effort is how much a model spends before it answers; here it is the number of
reasoning steps in the thinking block, low < medium < high < xhigh < max. A
request that sets none gets the model's ``default_effort`` (the catalog's); a
model without effort thinks as at ``high``. The steps are drawn from the
conversation's words and from their own generator, so effort changes the
thinking and nothing after it.
"""

from __future__ import annotations

import random
from typing import Any

from ..catalog import ModelInfo
from . import _prose

#: Reasoning steps in the thinking, by effort; ``high`` is the three the model always had.
STEPS = {"low": 1, "medium": 2, "high": 3, "xhigh": 5, "max": 8}
_BASE = STEPS["high"]

_MORE = (
    "Before answering, I should check whether {b} changes the picture for {a}.",
    "It is worth weighing {b} against {c} before settling on an answer.",
    "There may be an edge case around {c} that deserves a mention.",
    "Let me make sure the explanation of {a} is accurate and complete.",
    "A second look at {b} could reveal something I missed.",
    "I should consider how an expert would approach {a}.",
    "The answer should stay consistent with what is known about {c}.",
    "Ordering the points from {b} to {c} will make this easier to follow.",
)


def effort(request: dict[str, Any], info: ModelInfo | None) -> str | None:
    """The request's effort, else the model's default (None: neither says)."""
    level = (request.get("output_config") or {}).get("effort")
    if level is None and info is not None:
        level = info.default_effort
    return level


def thinking(context: str, rng: random.Random, level: str | None) -> str:
    """The thinking text at ``level``: the model's usual steps, fewer or more.

    Draws from ``rng`` exactly what the usual thinking draws, whatever the level.
    """
    text = _prose.thinking(context, rng)
    steps = STEPS.get(level or "high", _BASE)
    if steps == _BASE:
        return text
    if steps < _BASE:
        return " ".join(_sentences(text)[:steps])
    extra = random.Random(f"{text}/{level}")
    slots = _slots(context)
    more = extra.sample(_MORE, steps - _BASE)
    return " ".join([text, *(s.format(**slots) for s in more)])


def _sentences(text: str) -> list[str]:
    # The prose's words are letters only: ". " ends a sentence and nothing else.
    parts = text.split(". ")
    return [p if p.endswith(".") else p + "." for p in parts]


def _slots(context: str) -> dict[str, str]:
    words = _prose.keywords(context, limit=6)
    a = _prose.topic(context, words[0]) if words else "the question"
    rest = [w for w in words if w not in a.split()] + ["the details", "the context"]
    return {"a": a, "b": rest[0], "c": rest[1]}
