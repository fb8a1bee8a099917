"""Web search and web fetch over the local corpus, and the blocks they answer with.

``search`` and ``fetch`` read a corpus (``dateline.web_corpus``; None is the built-in
one), honour the tool's domain lists (``_web_domains``), and fail with a
``ToolError`` carrying the API's error code. The block builders turn what they
found into the API's ``web_search_tool_result`` / ``web_fetch_tool_result``
blocks and the citations that text blocks carry, their ``encrypted_*`` tokens
sealed with the server's key (``_web_tokens``). What a conversation has shown,
which web fetch needs, is read by ``read_context`` (``_web_context``).

This module is where the built-in model reaches all of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from .. import tokenizer
from .. import web_corpus as _web_corpus
from .._re2 import regex as _regex
from ..web_corpus import Corpus, Found, find_page, normalize_url
from ._server_tools import DIRECT, ToolError
from ._web_context import Context, read_context
from ._web_domains import Domain, DomainFilter, check_tool, parse_domain
from ._web_tokens import open_content, open_index, seal

__all__ = [
    "Context",
    "Corpus",
    "Fetched",
    "Found",
    "ToolError",
    "best_sentence",
    "check_tool",
    "fetch",
    "fetch_citation",
    "fetch_error_block",
    "fetch_result_block",
    "normalize_url",
    "open_content",
    "open_index",
    "read_context",
    "search",
    "search_citation",
    "search_error_block",
    "search_result_block",
    "seal",
]

#: The longest URL web fetch takes.
MAX_URL = 250
#: Dateline's bound on a search query (the API's is not published): the search
#: provider's own, 400 characters and 50 words.
MAX_QUERY_CHARS, MAX_QUERY_WORDS = 400, 50
#: Results a search gives unless told otherwise.
DEFAULT_RESULTS = 5
#: The longest ``cited_text`` of a web search citation.
MAX_CITED = 150

_WORD = re.compile(r"\w+")
#: Where a sentence may end: a run of ``.!?`` (when a space or the end follows), or a line break.
_SENTENCE_END = re.compile(r"[.!?]+|\n")
_STOPWORDS = frozenset(
    "a an and are as at be by for from how in is it of on or the to what when where which who why with".split()
)


# --- search --------------------------------------------------------------------------------------


def search(
    corpus: Corpus | None,
    query: Any,
    *,
    allowed_domains: Collection[str] | None = None,
    blocked_domains: Collection[str] | None = None,
    user_location: dict[str, Any] | None = None,
    max_results: int = DEFAULT_RESULTS,
) -> list[Found]:
    """What searching ``query`` finds: the first rule whose regex matches and that leaves a result
    after the domain filter (a rule's ``results: []`` answers with none), else results made from
    the query's words. Raises ``ToolError`` with the rule's error, or for a bad query."""
    if not isinstance(query, str) or not query.strip():
        raise ToolError("invalid_tool_input", "query must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS or len(query.split()) > MAX_QUERY_WORDS:
        raise ToolError("query_too_long")
    domains = _filter(allowed_domains, blocked_domains, paths=True)
    corpus = _web_corpus.effective(corpus)
    country = ((user_location or {}).get("country") or "").upper()
    for rule in corpus.search:
        if rule.country is not None and rule.country.upper() != country:
            continue
        if not _compiled(rule.query).search(query):
            continue
        if rule.error is not None:
            raise ToolError(rule.error)
        found = [f for f in (_result(corpus, r) for r in rule.results or ()) if domains.admits(f.url)]
        if found or not rule.results:
            return _unique(found)[:max_results]
    return _unique(_fallback(corpus, query, user_location, domains))[:max_results]


def _filter(allowed: Collection[str] | None, blocked: Collection[str] | None, *, paths: bool) -> DomainFilter:
    # A tool that reached here was checked (``_web_domains.check_tool``); an entry that still
    # fails is the tool input's fault, as the API answers it.
    try:
        return DomainFilter(
            tuple(map(parse_domain, allowed)) if allowed is not None else None,
            tuple(map(parse_domain, blocked)) if blocked is not None else None,
            paths,
        )
    except ValueError as exc:
        raise ToolError("invalid_tool_input", str(exc)) from None


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    return _regex(pattern)


def _result(corpus: Corpus, result: _web_corpus.Result) -> Found:
    page = find_page(corpus, result.url)
    title = result.title or (page.title if page else None) or result.url
    text = result.text if result.text is not None else (page.text if page and page.text else title)
    return Found(result.url, title, text, result.page_age or (page.page_age if page else None))


def _unique(found: Iterable[Found]) -> list[Found]:
    seen: set[str] = set()
    return [f for f in found if not (f.url in seen or seen.add(f.url))]


def _fallback(corpus: Corpus, query: str, location: dict[str, Any] | None, domains: DomainFilter) -> list[Found]:
    """Results made from the query's words by the corpus's templates, on the allowed domains if given."""
    words = _WORD.findall(query)[:8]
    title = " ".join(w[:1].upper() + w[1:] for w in words) or query.strip()[:60]
    slug = quote("_".join(title.split()), safe="_")
    location = location or {}
    place = ", ".join(str(location[k]) for k in ("city", "region", "country") if location.get(k))
    values = {"query": query.strip(), "Title": title, "slug": slug, "in_place": f" in {place}" if place else ""}
    found = []
    for i, template in enumerate(corpus.fallback or ()):
        url = template.url.format(**values)
        if domains.allowed:
            url = _rehost(url, domains.allowed[i % len(domains.allowed)])
        text = (template.text or "").format(**values) or title
        age = template.page_age.format(**values) if template.page_age else _page_age(query, i)
        found.append(Found(url, template.title.format(**values), text, age))  # type: ignore[union-attr]
    return [f for f in found if domains.admits(f.url)]


def _rehost(url: str, domain: Domain) -> str:
    """``url`` moved onto an allowed domain, under its path (a ``*`` there takes the page's path)."""
    parts = urlsplit(url)
    if "*" in domain.path:
        path = domain.path.replace("*", parts.path.strip("/"))
    else:
        path = domain.path.rstrip("/") + parts.path
    return urlunsplit(("https", domain.host, path, parts.query, ""))


def _page_age(query: str, i: int) -> str:
    digest = hashlib.sha256(f"{i}:{query}".encode()).digest()
    day = date(2023, 1, 1) + timedelta(days=int.from_bytes(digest[:4], "big") % 1200)
    return f"{day:%B} {day.day}, {day.year}"


# --- fetch ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """A fetched page: a text document, or a PDF's bytes (base64) in ``data``."""

    url: str
    title: str | None
    retrieved_at: str
    media_type: str = "text/plain"
    text: str = ""
    data: str | None = None
    citations: bool = False


def fetch(
    corpus: Corpus | None,
    url: Any,
    *,
    allowed_domains: Collection[str] | None = None,
    blocked_domains: Collection[str] | None = None,
    context: Context | None = None,
    citations: bool = False,
    max_content_tokens: int | None = None,
) -> Fetched:
    """The page at ``url``, or ``ToolError``: too long, not allowed, not in ``context`` (None: not
    checked), or not in the corpus nor in an earlier result (``url_not_accessible``)."""
    if not isinstance(url, str) or not url:
        raise ToolError("invalid_tool_input", "url must be a non-empty string")
    if len(url) > MAX_URL:
        raise ToolError("url_too_long")
    try:
        key = normalize_url(url)
    except ValueError:
        raise ToolError("invalid_tool_input", "url is not an http(s) URL") from None
    if not _filter(allowed_domains, blocked_domains, paths=False).admits(url):
        raise ToolError("url_not_allowed")
    if context is not None and key not in context.urls:
        raise ToolError("url_not_in_prior_context")
    corpus = _web_corpus.effective(corpus)
    page = find_page(corpus, url)
    retrieved = (page.retrieved_at if page is not None else None) or corpus.retrieved_at
    if page is not None:
        if page.error is not None:
            raise ToolError(page.error)
        if page.media_type == "application/pdf":
            return Fetched(url, page.title, retrieved, page.media_type, data=page.data, citations=citations)
        if page.media_type != "text/plain":
            raise ToolError("unsupported_content_type")
        found = Found(url, page.title or url, page.text or "")
    else:
        found = _known(corpus, key) or (context.pages.get(key) if context is not None else None)
        if found is None:
            raise ToolError("url_not_accessible")
    text = found.text
    if max_content_tokens is not None:
        tokens = tokenizer.split(text)
        text = "".join(tokens[:max_content_tokens]) if len(tokens) > max_content_tokens else text
    return Fetched(url, found.title, retrieved, text=text, citations=citations)


def _known(corpus: Corpus, key: str) -> Found | None:
    """A page a search rule of the corpus shows (its result's title and text)."""
    for rule in corpus.search:
        for result in rule.results or ():
            if normalize_url(result.url) == key:
                return _result(corpus, result)
    return None


# --- blocks --------------------------------------------------------------------------------------


def search_result_block(
    tool_use_id: str, found: list[Found], *, key: str | bytes, caller: dict[str, Any] | None = DIRECT
) -> dict[str, Any]:
    """The ``web_search_tool_result`` block listing ``found``."""
    content = [
        {
            "type": "web_search_result",
            "title": f.title,
            "url": f.url,
            "encrypted_content": seal(key, "content", [f.url, f.title, f.text, f.page_age]),
            "page_age": f.page_age,
        }
        for f in found
    ]
    return _result_block("web_search_tool_result", tool_use_id, content, caller)


def search_error_block(tool_use_id: str, code: str, *, caller: dict[str, Any] | None = DIRECT) -> dict[str, Any]:
    content = {"type": "web_search_tool_result_error", "error_code": code}
    return _result_block("web_search_tool_result", tool_use_id, content, caller)


def fetch_result_block(tool_use_id: str, fetched: Fetched, *, caller: dict[str, Any] | None = DIRECT) -> dict[str, Any]:
    """The ``web_fetch_tool_result`` block holding the fetched document."""
    if fetched.data is not None:
        source = {"type": "base64", "media_type": fetched.media_type, "data": fetched.data}
    else:
        source = {"type": "text", "media_type": "text/plain", "data": fetched.text}
    document = {
        "type": "document",
        "source": source,
        "title": fetched.title,
        "citations": {"enabled": fetched.citations},
    }
    content = {
        "type": "web_fetch_result",
        "url": fetched.url,
        "content": document,
        "retrieved_at": fetched.retrieved_at,
    }
    return _result_block("web_fetch_tool_result", tool_use_id, content, caller)


def fetch_error_block(tool_use_id: str, code: str, *, caller: dict[str, Any] | None = DIRECT) -> dict[str, Any]:
    content = {"type": "web_fetch_tool_result_error", "error_code": code}
    return _result_block("web_fetch_tool_result", tool_use_id, content, caller)


def _result_block(kind: str, tool_use_id: str, content: Any, caller: dict[str, Any] | None) -> dict[str, Any]:
    block = {"type": kind, "tool_use_id": tool_use_id, "content": content}
    if caller is not None:
        block["caller"] = caller
    return block


# --- citations -----------------------------------------------------------------------------------


def search_citation(found: Found, query: str, *, key: str | bytes) -> dict[str, Any]:
    """A ``web_search_result_location`` citing the sentence of ``found`` that best answers ``query``."""
    start, end = best_sentence(found.text, query)
    if end - start > MAX_CITED:
        cut = found.text.rfind(" ", start, start + MAX_CITED + 1)
        end = cut if cut > start else start + MAX_CITED
    return {
        "type": "web_search_result_location",
        "cited_text": found.text[start:end],
        "url": found.url,
        "title": found.title,
        "encrypted_index": seal(key, "index", [found.url, start, end]),
    }


def fetch_citation(fetched: Fetched, query: str, *, document_index: int) -> dict[str, Any] | None:
    """A ``char_location`` citing the fetched document's sentence that best answers ``query``
    (None for a PDF or a document without citations). ``document_index`` counts the documents
    of the request and of the turn so far, this one included, from 0."""
    if not fetched.citations or fetched.data is not None or not fetched.text:
        return None
    start, end = best_sentence(fetched.text, query)
    return {
        "type": "char_location",
        "cited_text": fetched.text[start:end],
        "document_index": document_index,
        "document_title": fetched.title,
        "start_char_index": start,
        "end_char_index": end,
        "file_id": None,
    }


def best_sentence(text: str, query: str) -> tuple[int, int]:
    """The span of ``text``'s sentence sharing most words with ``query`` (the first on a tie)."""
    wanted = _stems(query)
    best, span = -1, (0, len(text))
    for start, end in _sentences(text):
        score = len(wanted & _stems(text[start:end]))
        if score > best:
            best, span = score, (start, end)
    return span


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    """The spans of ``text``'s sentences, leading spaces left out ("1.5 million" does not end one)."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group() != "\n" and end < len(text) and not text[end].isspace():
            continue
        yield from _stripped(text, start, match.start() if match.group() == "\n" else end)
        start = end
    yield from _stripped(text, start, len(text))


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    if start < end:
        yield start, end


def _stems(text: str) -> set[str]:
    # A word's first five letters stand for it: "define" and "defined" meet.
    return {w[:5] for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOPWORDS}
