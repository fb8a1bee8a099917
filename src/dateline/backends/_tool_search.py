"""Tool search: the request's ``defer_loading`` tools found by a regex or a BM25 query.

Both variants search each deferred tool's name, description, and its
parameters' names and descriptions, and answer with ``tool_reference``s,
five unless the call asks for another ``limit``. Ties keep the request's
order, so the same request always finds the same tools.

The regex runs on RE2 (linear time). A pattern RE2 cannot run (lookaround, a
backreference) runs on Python's ``re`` only when it cannot backtrack badly:
no repeat inside a repeat, no alternation or backreference inside a repeat,
at most one unbounded repeat; each text it reads is cut to 4,096 characters.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import errors
from .._content import blocks
from .._re2 import regex as _regex
from ._server_tools import ToolError

TOOL_SEARCH_TYPES = {
    "tool_search_tool_regex_20251119": "regex",
    "tool_search_tool_regex": "regex",
    "tool_search_tool_bm25_20251119": "bm25",
    "tool_search_tool_bm25": "bm25",
}
MAX_PATTERN = 200  #: characters of a regex pattern
MAX_QUERY = 500  #: characters of a BM25 query
DEFAULT_LIMIT = 5
MAX_LIMIT = 10_000
MAX_DEFERRED = 10_000  #: deferred tools a request may carry

_FALLBACK_TEXT = 4096
_SCHEMA_DEPTH = 32
_K1, _B = 1.2, 0.75
_NAME_WEIGHT = 2  #: a word of the tool's name counts as this many words of its description
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_TERM = re.compile(r"[^\W_]+")
#: Query words too common to tell tools apart (in a small catalog BM25 would weigh them heavily).
_STOPWORDS = frozenset(
    "a an and are as at be by can do for from how i in is it me my of on or please the this to use what "
    "when where which who why will with you".split()
)


# --- the request's own rules ---------------------------------------------------------------------


def deferred(tools: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tools if t.get("defer_loading") is True]


def check_tools(tools: list[dict[str, Any]]) -> None:
    """The 400s about deferred tools: all of them deferred, or too many."""
    count = len(deferred(tools))
    if tools and count == len(tools):
        raise errors.InvalidRequestError("All tools have defer_loading set. At least one tool must be non-deferred.")
    if count > MAX_DEFERRED:
        raise errors.InvalidRequestError(
            f"tools: at most {MAX_DEFERRED:,} tools may set defer_loading; this request has {count:,}"
        )


def check_references(messages: Iterable[dict[str, Any]], tools: Iterable[dict[str, Any]]) -> None:
    """A 400 for a ``tool_reference`` (in a tool search result or a client tool's result) naming no tool."""
    names = {t.get("name") for t in tools}
    for name in _references(messages):
        if name not in names:
            raise errors.InvalidRequestError(f"Tool reference '{name}' has no corresponding tool definition")


def _references(messages: Iterable[dict[str, Any]]) -> Iterator[Any]:
    for message in messages:
        for block in blocks(message.get("content")):
            kind = block.get("type")
            if kind == "tool_search_tool_result":
                content = block.get("content") or {}
                found = content.get("tool_references") if isinstance(content, dict) else None
            elif kind == "tool_result" and isinstance(block.get("content"), list):
                found = block["content"]
            else:
                continue
            for item in found or ():
                if isinstance(item, dict) and item.get("type") == "tool_reference":
                    yield item.get("tool_name")


# --- searching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tool:
    name: str
    description: str
    params: tuple[str, ...]  #: parameter names and descriptions, nested ones too

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.name, self.description, *self.params)


def search_tools(tools: Iterable[dict[str, Any]], variant: str, tool_input: Any) -> list[str]:
    """The names of the deferred tools ``tool_input`` (``{"query", "limit"?}``) finds, best first.

    ``variant`` is ``"regex"`` or ``"bm25"`` (``TOOL_SEARCH_TYPES`` of the tool's type).
    A bad input raises ``ToolError("invalid_tool_input", why)``.
    """
    query = tool_input.get("query") if isinstance(tool_input, dict) else None
    if not isinstance(query, str) or not query.strip():
        raise ToolError("invalid_tool_input", "query must be a non-empty string")
    limit = tool_input.get("limit", DEFAULT_LIMIT)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ToolError("invalid_tool_input", f"limit must be an integer from 1 to {MAX_LIMIT:,}")
    catalog = [_describe(t) for t in deferred(tools) if isinstance(t.get("name"), str)]
    if variant == "regex":
        if len(query) > MAX_PATTERN:
            raise ToolError("invalid_tool_input", f"pattern exceeds {MAX_PATTERN} characters")
        found = _regex_search(catalog, _matcher(query))
    elif variant == "bm25":
        if len(query) > MAX_QUERY:
            raise ToolError("invalid_tool_input", f"query exceeds {MAX_QUERY} characters")
        found = _bm25(catalog, query)
    else:
        raise ValueError(f"unknown tool search variant {variant!r}")
    return [tool.name for tool in found[:limit]]


def _describe(tool: dict[str, Any]) -> _Tool:
    description = tool.get("description")
    return _Tool(
        tool["name"],
        description if isinstance(description, str) else "",
        tuple(_params(tool.get("input_schema"))),
    )


def _params(schema: Any) -> Iterator[str]:
    """Parameter names and descriptions, nested objects and array items included (to a bounded depth)."""
    pending = [(schema, 0)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, dict) or depth > _SCHEMA_DEPTH:
            continue
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                yield str(name)
                if isinstance(sub, dict) and isinstance(sub.get("description"), str):
                    yield sub["description"]
                pending.append((sub, depth + 1))
        for key in ("items", "additionalProperties"):
            pending.append((node.get(key), depth + 1))
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(node.get(key), list):
                pending.extend((sub, depth + 1) for sub in node[key])


def _regex_search(catalog: list[_Tool], matches: Callable[[str], bool]) -> list[_Tool]:
    """Tools whose name matches, then those matching elsewhere; each group in the request's order."""
    by_name, elsewhere = [], []
    for tool in catalog:
        if matches(tool.name):
            by_name.append(tool)
        elif any(matches(text) for text in tool.fields[1:]):
            elsewhere.append(tool)
    return by_name + elsewhere


def _matcher(pattern: str) -> Callable[[str], bool]:
    try:
        regex = _regex(pattern)
    except ValueError:
        pass
    else:
        return lambda text: regex.search(text) is not None
    if not _backtracks_safely(pattern):
        raise ToolError("invalid_tool_input", "invalid or unsupported regular expression pattern")
    compiled = re.compile(pattern)
    return lambda text: compiled.search(text[:_FALLBACK_TEXT]) is not None


def _backtracks_safely(pattern: str) -> bool:
    """Whether Python's backtracking ``re`` runs ``pattern`` in bounded time on a bounded text."""
    from re import _constants as c
    from re import _parser

    try:
        tree = _parser.parse(pattern)
    except Exception:  # any error the parser raises: not a pattern Python runs
        return False
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)
    unbounded = 0

    def walk(items: Any, in_repeat: bool) -> bool:
        nonlocal unbounded
        for op, av in items:
            if op in repeats:
                if in_repeat:
                    return False
                unbounded += av[1] == c.MAXREPEAT or av[1] > 100
                if not walk(av[2], True):
                    return False
            elif op in (c.BRANCH, c.GROUPREF, c.GROUPREF_EXISTS) and in_repeat:
                return False
            elif op == c.BRANCH and not all(walk(alt, in_repeat) for alt in av[1]):
                return False
            elif op == c.GROUPREF_EXISTS and not all(walk(sub, in_repeat) for sub in av[1:] if sub is not None):
                return False
            elif op == c.SUBPATTERN and not walk(av[-1], in_repeat):
                return False
            elif op in (c.ASSERT, c.ASSERT_NOT) and not walk(av[1], in_repeat):
                return False
            elif op == c.ATOMIC_GROUP and not walk(av, in_repeat):
                return False
        return True

    return walk(tree, False) and unbounded <= 1


def _terms(text: str) -> list[str]:
    """Words, with ``snake_case`` and ``camelCase`` split: ``getWeather`` and ``get_weather`` are ``get weather``."""
    return _TERM.findall(_CAMEL.sub(" ", text).lower())


def _bm25(catalog: list[_Tool], query: str) -> list[_Tool]:
    """Okapi BM25 (k1 1.2, b 0.75) over the query's words less stopwords, the name's words weighted
    up; tools scoring 0 are left out."""
    wanted = list(dict.fromkeys(t for t in _terms(query) if len(t) > 1 and t not in _STOPWORDS))
    if not wanted or not catalog:
        return []
    docs = [
        Counter(_terms(t.name) * _NAME_WEIGHT + [w for text in t.fields[1:] for w in _terms(text)]) for t in catalog
    ]
    lengths = [sum(d.values()) for d in docs]
    average = sum(lengths) / len(docs) or 1.0
    idf = {}
    for term in wanted:
        having = sum(1 for d in docs if term in d)
        idf[term] = math.log(1 + (len(docs) - having + 0.5) / (having + 0.5))
    scored = []
    for i, (doc, length) in enumerate(zip(docs, lengths)):
        score = 0.0
        for term in wanted:
            tf = doc.get(term, 0)
            if tf:
                score += idf[term] * tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * length / average))
        if score > 0:
            scored.append((-score, i))
    scored.sort()
    return [catalog[i] for _, i in scored]


# --- blocks --------------------------------------------------------------------------------------


def result_block(tool_use_id: str, names: list[str]) -> dict[str, Any]:
    """The ``tool_search_tool_result`` block referring to the tools found."""
    references = [{"type": "tool_reference", "tool_name": name} for name in names]
    content = {"type": "tool_search_tool_search_result", "tool_references": references}
    return {"type": "tool_search_tool_result", "tool_use_id": tool_use_id, "content": content}


def error_block(tool_use_id: str, code: str, message: str | None = None) -> dict[str, Any]:
    content = {"type": "tool_search_tool_result_error", "error_code": code, "error_message": message}
    return {"type": "tool_search_tool_result", "tool_use_id": tool_use_id, "content": content}
