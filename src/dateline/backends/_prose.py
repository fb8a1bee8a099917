"""Deterministic prose for the built-in model.

Replies are assembled from sentence templates filled with the salient words
of the conversation, chosen by a seeded generator: plausible, different for
different prompts, identical for identical ones.
"""

from __future__ import annotations

import random
import re

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_STOP = frozenset(
    """about above after again against also among another because been before being below between both
    cannot could does doing done down during each either else even every from further have having here
    hers herself himself into itself just like made make many maybe might more most much must myself never
    only other ought ours ourselves over please quite rather really same shall should since some such than
    that their theirs them themselves then there these they this those through thus tell under until upon
    very want were what when where which while whom whose will with within without would your yours yourself
    yourselves hello thanks thank claude give write explain describe show know need think using used sure
    okay answer question something anything everything things thing word words""".split()
)
_FALLBACK = ("your message", "context", "detail", "examples", "background", "practice")

_OPENINGS = (
    "Here is a short answer about {a}.",
    "Good question about {a}.",
    "Let me address {a} directly.",
    "Happy to help with {a}.",
    "Thinking about {a}, a few points stand out.",
)
_BODY = (
    "Much of {a} comes down to {b} and {c}, so it helps to start with the basics.",
    "In practice, most people look at {b} first and then consider {c}.",
    "A simple way to think about {a} is as a trade-off between {b} and {c}.",
    "The key point is that the role of {b} is larger than it first appears.",
    "It is worth checking how {b} and {c} fit together before drawing conclusions.",
    "Small changes to {b} can have a large effect on {a}.",
    "Where {c} plays a part, the details of {b} deserve a careful look.",
    "A concrete example usually makes {a} much easier to reason about.",
)
_CLOSINGS = (
    "Let me know if you would like more detail on any part of this.",
    "I hope this helps with {a}.",
    "Feel free to ask a follow-up question about {b} or {c}.",
)
_LONG_HINTS = re.compile(r"\b(essay|story|detailed|in detail|long|thorough|comprehensive|\d{3,} words)\b", re.I)


def keywords(text: str, limit: int = 3) -> list[str]:
    """The most salient words of ``text``, by frequency then first appearance."""
    seen: dict[str, int] = {}
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower not in _STOP and len(lower) > 3:
            seen[lower] = seen.get(lower, 0) + 1
    ranked = sorted(seen, key=lambda w: -seen[w])  # sorted() is stable: ties keep text order
    return ranked[:limit]


def topic(text: str, word: str) -> str:
    """The run of salient words around ``word`` ("tide pools", not "tide")."""
    words = [w.lower() for w in _WORD.findall(text)]
    if word not in words:
        return word
    at = words.index(word)
    start, end = at, at + 1
    while start > 0 and at - start < 2 and _salient(words[start - 1]):
        start -= 1
    while end < len(words) and end - start < 3 and _salient(words[end]):
        end += 1
    return " ".join(words[start:end])


def _salient(word: str) -> bool:
    return word not in _STOP and len(word) > 3


def _slots(text: str) -> dict[str, str]:
    words = keywords(text, limit=6)
    a = topic(text, words[0]) if words else _FALLBACK[0]
    rest = [w for w in words if w not in a.split()]
    rest += [w for w in _FALLBACK[1:] if w not in rest and w not in a.split()]
    b, c = rest[:2]
    return {"a": a, "A": a[:1].upper() + a[1:], "b": b, "c": c}


def reply(text: str, rng: random.Random, *, wants_long: bool | None = None) -> str:
    """A few sentences answering ``text``; many more when it asks for length."""
    slots = _slots(text)
    if wants_long is None:
        wants_long = bool(_LONG_HINTS.search(text))
    body_count = rng.randint(12, 16) * 3 if wants_long else rng.randint(1, 3)
    sentences = [rng.choice(_OPENINGS)]
    body = list(_BODY)
    for i in range(body_count):
        if i % len(body) == 0:
            rng.shuffle(body)
        sentences.append(body[i % len(body)])
    sentences.append(rng.choice(_CLOSINGS))
    return " ".join(s.format(**slots) for s in sentences)


def thinking(text: str, rng: random.Random) -> str:
    slots = _slots(text)
    steps = [
        "The user is asking about {a}.",
        rng.choice(("I should explain how {b} relates to {c}.", "I should start from {b} and then cover {c}.")),
        rng.choice(("A short, clear answer will work best here.", "An example would make this concrete.")),
    ]
    return " ".join(s.format(**slots) for s in steps)


def tool_preface(tool_name: str) -> str:
    return f"I'll use the {tool_name} tool to help with that."


def after_tool(results: list[tuple[str, str]], rng: random.Random) -> str:
    """A reply that reads the tool results just returned."""
    parts = []
    for name, output in results:
        snippet = " ".join(output.split())[:120] or "no output"
        parts.append(
            rng.choice(
                (
                    f"The {name} tool returned: {snippet}.",
                    f"According to the {name} result, {snippet}.",
                )
            )
        )
    parts.append(rng.choice(("Based on that, the task is complete.", "That answers the question.")))
    return " ".join(parts)
