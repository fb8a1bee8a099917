"""When the built-in model calls a server tool, and with what: read from the last user message.

- **Web search** when a ``web_search`` tool is offered and the text asks for
  something the web knows (*search*, *look up*, *google*, *find out*, *latest*,
  *news*, *current*, *today*, *recent*, *online*, *on the web*, or the tool's
  name). Each phrase in double quotes is one search, in order (up to 20);
  without quotes, one search for the text less its request words.
- **Web fetch** when a ``web_fetch`` tool is offered: each http(s) URL in the
  text, in order (up to 10); with no URL, when the text asks to *fetch*,
  *read*, *open*, *visit* or *summarize* and a search of the turn found a page,
  the first page found.
- **Tool search** when a tool search tool is offered, the message asks a
  question (it answers no tool call) with a word found in a deferred tool's
  name or description, names none of the tools already loaded, and the web
  tools have nothing to do: one search from its words, as a regex
  (``(?i)word|word``) or a BM25 query.
- ``tool_choice`` ``none`` calls nothing; ``{"type": "tool"}`` naming a server
  tool calls that tool (with what the text gives, or its best guess);
  ``any`` with no client tool offered calls the first server tool offered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .._content import blocks, content_text
from ._tool_kinds import server_kind
from ._tool_names import named_tool
from ._web_context import urls_in

MAX_QUERIES = 20
MAX_URLS = 10
#: How much of the message the model reads for what to call (its start: a long paste follows the ask).
MAX_TEXT = 256 * 1024
#: Words of a search query the model writes itself (a quoted phrase is taken whole).
_QUERY_WORDS = 32
_TOOL_QUERY_WORDS = 8

_SEARCH_ASK = re.compile(
    r"\b(?:search(?:es|ed|ing)?|look(?:s|ing)?\s+(?:it\s+|this\s+|that\s+|them\s+)?up|lookup|google|"
    r"find\s+out|latest|news|current(?:ly)?|today|tonight|this\s+(?:week|month|year)|recent(?:ly)?|"
    r"up[\s-]to[\s-]date|online|on\s+the\s+(?:web|internet)|web_search|web\s+search)\b",
    re.IGNORECASE,
)
_FETCH_ASK = re.compile(r"\b(?:fetch|read|open|visit|summari[sz]e|full\s+(?:page|article|text))\b", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"\n]+)"|\u201c([^\u201d\n]+)\u201d')
#: The request words before what to search for: "Please search the web for …", "Can you look up …".
_LEAD = re.compile(
    r"^\s*(?:(?:hey|hi|ok|okay)\b[,!.]?\s*)?(?:please\s+)?(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
    r"(?:(?:do\s+a\s+)?(?:web\s+)?search(?:\s+(?:the\s+)?(?:web|internet))?|look\s+up|google|find\s+out|check)\b"
    r"\s*[:,]?\s*(?:(?:the\s+)?(?:web|internet)\s+|online\s+)?(?:for|about|on)?\s*[:,]?\s*",
    re.IGNORECASE,
)
_TAIL = re.compile(r"(?:\s+(?:on(?:\s+the)?\s+(?:web|internet)|online))?[\s?.!,;:]*$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{2,}")
_TOOL_STOPWORDS = frozenset(
    "and are can could for from has have how need please tell that the this tool tools use using what when "
    "where which who why will with would you your".split()
)


@dataclass(frozen=True)
class Step:
    """One call the model means to make: the tool's name and kind, and its query or URL
    (a fetch of ``""`` takes the first page this turn's searches found)."""

    name: str
    kind: str  #: web_search | web_fetch | tool_search
    value: str


def offered(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The server tools of each kind the request offers (the first of each), in the request's order."""
    found: dict[str, dict[str, Any]] = {}
    for tool in request.get("tools") or ():
        kind = server_kind(tool)
        if kind is not None and kind != "not_emulated":
            found.setdefault(kind, tool)
    return found


def user_text(message: dict[str, Any]) -> str:
    text = "\n".join(b.get("text") or "" for b in blocks(message.get("content")) if b.get("type") == "text")
    return text[:MAX_TEXT]


def plan(request: dict[str, Any], tools: dict[str, dict[str, Any]], message: dict[str, Any]) -> list[Step]:
    """The calls the last user ``message`` calls for, given the server ``tools`` offered."""
    choice = request.get("tool_choice") or {}
    kind = choice.get("type", "auto")
    if kind == "none" or not tools:
        return []
    text = user_text(message)
    by_name = {tool["name"]: k for k, tool in tools.items()}
    if kind == "tool":
        forced = by_name.get(choice.get("name"))
        return _forced(request, tools, forced, text) if forced is not None else []
    steps = _web_steps(tools, text)
    if not steps and "tool_search" in tools and _asks_for_tools(request, message, text):
        steps = [Step(tools["tool_search"]["name"], "tool_search", _tool_query(tools["tool_search"], text))]
    if not steps and kind == "any" and not any("input_schema" in t for t in request.get("tools") or ()):
        return _forced(request, tools, next(iter(tools)), text)
    return steps


def _web_steps(tools: dict[str, dict[str, Any]], text: str) -> list[Step]:
    steps = []
    search, fetch = tools.get("web_search"), tools.get("web_fetch")
    if search is not None and _SEARCH_ASK.search(text):
        steps += [Step(search["name"], "web_search", q) for q in queries(text)]
    if fetch is not None:
        urls = urls_in(text)[:MAX_URLS]
        steps += [Step(fetch["name"], "web_fetch", url) for url in urls]
        if not urls and steps and _FETCH_ASK.search(text):
            steps.append(Step(fetch["name"], "web_fetch", ""))
    return steps


def _forced(request: dict[str, Any], tools: dict[str, dict[str, Any]], kind: str, text: str) -> list[Step]:
    tool = tools[kind]
    if kind == "web_search":
        return [Step(tool["name"], kind, q) for q in queries(text) or ["latest news"]]
    if kind == "web_fetch":
        urls = urls_in(text)[:MAX_URLS] or _conversation_urls(request)[:1] or ["https://example.com/"]
        return [Step(tool["name"], kind, url) for url in urls]
    return [Step(tool["name"], kind, _tool_query(tool, text))]


def queries(text: str) -> list[str]:
    """The searches ``text`` asks for: its quoted phrases, else one from its first line."""
    quoted = [(a or b).strip() for a, b in _QUOTED.findall(text)]
    quoted = [q for q in quoted if q]
    if quoted:
        return quoted[:MAX_QUERIES]
    line = next((line for line in text.splitlines() if line.strip()), "")
    for url in urls_in(line):
        line = line.replace(url, " ")
    query = _TAIL.sub("", _LEAD.sub("", line[:2000], count=1))
    words = query.split()[:_QUERY_WORDS] or line.split()[:_QUERY_WORDS]
    return [" ".join(words)] if words else []


def _asks_for_tools(request: dict[str, Any], message: dict[str, Any], text: str) -> bool:
    """A question (not tool results) with words of a deferred tool's, and no loaded tool named."""
    if any(b.get("type") == "tool_result" for b in blocks(message.get("content"))):
        return False
    tools = request.get("tools") or ()
    deferred = " ".join(
        f"{t.get('name')} {t.get('description') or ''}".lower()
        for t in tools
        if t.get("defer_loading") is True and "input_schema" in t
    )
    loaded = [t for t in tools if "input_schema" in t and t.get("defer_loading") is not True]
    return named_tool(loaded, text) is None and any(word in deferred for word in _words(text))


def _words(text: str) -> list[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return list(dict.fromkeys(w for w in words if w not in _TOOL_STOPWORDS))[:_TOOL_QUERY_WORDS]


def _tool_query(tool: dict[str, Any], text: str) -> str:
    """What the model searches its tools for: the text's words, as a regex or a BM25 query."""
    words = _words(text) or ["tool"]
    regex = "regex" in str(tool.get("type"))
    return "(?i)" + "|".join(words) if regex else " ".join(words)


def _conversation_urls(request: dict[str, Any]) -> list[str]:
    """URLs the users of the conversation wrote, in order (a fetch forced without one in the last message)."""
    found: list[str] = []
    for message in request.get("messages") or ():
        if message.get("role") == "user":
            found += urls_in(content_text(message.get("content")))
    return found
