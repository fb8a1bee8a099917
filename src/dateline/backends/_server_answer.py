"""What a turn with server tools says: the blocks as they are written, and the answer citing what
the calls found.

``Writer`` keeps the answer within its output budget and stop sequences (a
result block is the tool's, not the model's output). ``write_web_answer``
cites up to ``MAX_CITED`` search results, the first result of each search
first, and each fetched page's best sentence (a ``char_location`` when the
fetch tool enables citations); a call that failed is said so. A paused
answer's calls are read back from its blocks (``outcome_of``), search results
from their sealed ``encrypted_content``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import tokenizer
from .._content import blocks
from . import _web
from ._server_tools import cited_text
from ._stop import find_stop
from ._turn import Block
from ._web import Fetched, Found

#: Search results the answer cites, across its searches.
MAX_CITED = 3


@dataclass
class Outcome:
    """What one call of this turn gave: a search's pages, a fetched page, tools found, or an error code."""

    kind: str
    value: str
    found: list[Found] = field(default_factory=list)
    fetched: Fetched | None = None
    document_index: int = 0
    names: list[str] = field(default_factory=list)
    error: str | None = None


class Writer:
    """The answer's blocks as they are written, within the output budget and the stop sequences."""

    def __init__(self, budget: int, request: dict[str, Any], full: str) -> None:
        self.blocks: list[Block] = []
        self.used = 0
        self.budget = budget
        self.full = full
        self.stops = request.get("stop_sequences") or ()
        self.stop: str | None = None
        self.stop_sequence: str | None = None

    def raw_blocks(self) -> list[dict[str, Any]]:
        return [b.content() for b in self.blocks]

    def text(self, text: str, citations: list[dict[str, Any]] | None = None) -> None:
        if self.stop is not None or not text:
            return
        cut = find_stop(text, self.stops)
        if cut is not None:
            text, self.stop, self.stop_sequence = text[: cut[0]], "stop_sequence", cut[1]
        tokens = tokenizer.split(text)
        if self.used + len(tokens) > self.budget:
            tokens = tokens[: self.budget - self.used]
            text, self.stop, self.stop_sequence = "".join(tokens), self.full, None
        if text:
            raw = cited_text(text, citations) if citations else None
            self.blocks.append(Block("raw" if raw else "text", text, tokens=len(tokens), raw=raw))
        self.used += len(tokens)

    def call(self, block: dict[str, Any]) -> bool:
        """Write a call, if its input fits."""
        if self.stop is not None:
            return False
        cost = tokenizer.count(json.dumps(block["input"], ensure_ascii=False))
        if self.used + cost > self.budget:
            self.stop, self.used = self.full, self.budget
            return False
        self.blocks.append(Block("raw", tokens=cost, raw=block))
        self.used += cost
        return True

    def result(self, block: dict[str, Any]) -> None:
        self.blocks.append(Block("raw", raw=block))  # a result is the tool's, not the model's output

    def tool_use(self, tool_id: str, name: str, input_json: str) -> bool:
        cost = tokenizer.count(input_json)
        if self.stop is not None or self.used + cost > self.budget:
            self.stop, self.used = self.stop or self.full, self.budget
            return False
        self.blocks.append(Block("tool_use", tool_id=tool_id, name=name, input_json=input_json, tokens=cost))
        self.used += cost
        return True


def write_web_answer(w: Writer, web: list[Outcome], question: str, *, key: bytes) -> None:
    """What the searches and fetches gave, cited: up to ``MAX_CITED`` search results (the first
    of each search first), each fetched page's best sentence, and the calls that failed."""
    searches = [o for o in web if o.kind == "web_search"]
    pages = [o for o in web if o.kind == "web_fetch" and o.fetched is not None]
    cited = _round_robin([[(o.value, f) for f in o.found] for o in searches])[:MAX_CITED]
    if cited:
        w.text("Here is what I found.")
    elif pages:
        w.text("Here is what the page says." if len(pages) == 1 else "Here is what the pages say.")
    else:
        w.text("I could not find an answer on the web.")
    for query, found in cited:
        citation = _web.search_citation(found, query, key=key)
        w.text(" " + citation["cited_text"], [citation])
    for o in searches:
        if o.error is not None:
            w.text(f' The search for "{o.value}" failed ({o.error}).')
        elif not o.found:
            w.text(f' The search for "{o.value}" found nothing.')
    for o in web:
        if o.kind != "web_fetch":
            continue
        if o.fetched is None:
            w.text(f" I could not fetch {o.value} ({o.error}).")
            continue
        title = o.fetched.title or o.fetched.url
        citation = _web.fetch_citation(o.fetched, question, document_index=o.document_index)
        if citation is not None:
            w.text(f" From {title}:")
            w.text(" " + citation["cited_text"], [citation])
        elif o.fetched.data is not None:
            w.text(f" {title} is a PDF document ({o.fetched.url}).")
        else:
            start, end = _web.best_sentence(o.fetched.text, question)
            w.text(f" From {title}: {o.fetched.text[start:end]}".rstrip())


def _round_robin(lists: list[list[Any]]) -> list[Any]:
    """The first item of each list, then the second of each, and so on."""
    out = []
    for i in range(max((len(items) for items in lists), default=0)):
        out += [items[i] for items in lists if i < len(items)]
    return out


def fetched_document(block: dict[str, Any]) -> dict[str, Any] | None:
    """The document a successful ``web_fetch_tool_result`` carries."""
    if block.get("type") != "web_fetch_tool_result":
        return None
    content = block.get("content")
    if not isinstance(content, dict) or content.get("type") != "web_fetch_result":
        return None
    document = content.get("content")
    return document if isinstance(document, dict) else None


def count_documents(messages: list[dict[str, Any]]) -> int:
    """The documents of the conversation, as citations index them: attached ones and fetched ones."""
    count = 0
    for message in messages:
        for block in blocks(message.get("content")):
            count += block.get("type") == "document" or fetched_document(block) is not None
    return count


def outcome_of(call: dict[str, Any], block: dict[str, Any], document_index: int, key: bytes) -> Outcome:
    """What a call of the paused answer found, read back from its result block."""
    tool_input = call.get("input") if isinstance(call.get("input"), dict) else {}
    content = block.get("content")
    error = content.get("error_code") if isinstance(content, dict) else None
    kind = block.get("type")
    if kind == "web_search_tool_result":
        outcome = Outcome("web_search", str(tool_input.get("query")), error=error)
        for result in content if isinstance(content, list) else ():
            page = _web.open_content(key, result.get("encrypted_content") or "") if isinstance(result, dict) else None
            if page is not None:
                outcome.found.append(page)
        return outcome
    if kind == "web_fetch_tool_result":
        outcome = Outcome("web_fetch", str(tool_input.get("url")), error=error, document_index=document_index)
        document = fetched_document(block)
        if document is not None:
            source = document.get("source") or {}
            text = source.get("data") if source.get("type") == "text" else None
            outcome.fetched = Fetched(
                str(content.get("url")),
                document.get("title"),
                str(content.get("retrieved_at")),
                media_type=source.get("media_type") or "text/plain",
                text=text or "",
                data=None if source.get("type") == "text" else source.get("data"),
                citations=bool((document.get("citations") or {}).get("enabled")),
            )
        return outcome
    references = content.get("tool_references") if isinstance(content, dict) else None
    names = [r.get("tool_name") for r in references or () if isinstance(r, dict)]
    return Outcome("tool_search", str(tool_input.get("query")), names=[n for n in names if n], error=error)
