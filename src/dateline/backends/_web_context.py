"""What a conversation has shown: the URLs web fetch may fetch, and the pages earlier results carried.

Web fetch takes only a URL that already appeared: in a user message, a client
tool's result, or an earlier web search or fetch result (``url_not_in_prior_context``
otherwise). A tool's ``url_sources`` narrows which of those count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._content import block_text, blocks, content_text
from ..web_corpus import Found, normalize_url
from ._web_tokens import open_content

_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
#: URLs longer than this in a text are not kept: web fetch refuses any over 250 characters anyway.
_MAX_URL = 2048


@dataclass
class Context:
    """What a conversation has shown so far: the URLs web fetch may fetch, and the pages earlier
    search and fetch results carried (a page found by search can be fetched)."""

    urls: set[str] = field(default_factory=set)
    pages: dict[str, Found] = field(default_factory=dict)

    def has(self, url: str) -> bool:
        return normalize_url(url) in self.urls


def read_context(
    messages: Iterable[dict[str, Any]], *, key: str | bytes, url_sources: dict[str, Any] | None = None
) -> Context:
    """The URLs a web fetch may fetch: in user messages, in client tool results, and in earlier
    web search and fetch results, as the tool's ``url_sources`` lets each count (omitted: all).

    The pages earlier results carried come along: a search result's from its
    ``encrypted_content``, a fetch result's from its document. For the turn
    being composed, pass its blocks so far as one more assistant message.
    """
    sources = url_sources or {}
    user_input = (sources.get("user_input") or {}).get("type", "all") == "all"
    client_tools, server_tools = sources.get("client_tool_results"), sources.get("server_tool_results")
    context = Context()
    tool_names: dict[str, str] = {}
    for message in messages:
        for block in blocks(message.get("content")):
            kind = block.get("type")
            if kind == "tool_use":
                tool_names[block.get("id", "")] = block.get("name", "")
            elif kind == "tool_result":
                if _counts(client_tools, tool_names.get(block.get("tool_use_id", ""), "")):
                    _add_urls(context, content_text(block.get("content")))
            elif kind == "web_search_tool_result":
                if _counts(server_tools, "web_search"):
                    _add_search_result(context, block, key)
            elif kind == "web_fetch_tool_result":
                if _counts(server_tools, "web_fetch"):
                    _add_fetch_result(context, block)
            elif message.get("role") == "user" and user_input:
                _add_urls(context, block_text(block))
                if kind == "search_result" and isinstance(block.get("source"), str):
                    _add_urls(context, block["source"])
    return context


def _counts(rule: dict[str, Any] | None, name: str) -> bool:
    kind = (rule or {}).get("type", "all")
    named = {t.get("name") for t in (rule or {}).get("tools") or ()}
    return kind == "all" or (kind == "only" and name in named) or (kind == "except" and name not in named)


def urls_in(text: str) -> list[str]:
    """The URLs ``text`` holds, in order, each less the punctuation of the sentence around it."""
    return [_trimmed(m.group()) for m in _URL_IN_TEXT.finditer(text) if m.end() - m.start() <= _MAX_URL]


def _add_urls(context: Context, text: str) -> None:
    for url in urls_in(text):
        _add(context, url)


def _trimmed(url: str) -> str:
    """``url`` less the punctuation of the sentence around it: a closing bracket it does not open."""
    url = url.rstrip(".,;:!?'\"")
    for close, opening in ((")", "("), ("]", "["), (")", "(")):
        cut = min(len(url) - len(url.rstrip(close)), url.count(close) - url.count(opening))
        if cut > 0:
            url = url[:-cut].rstrip(".,;:!?'\"")
    return url


def _add(context: Context, url: str, page: Found | None = None) -> None:
    try:
        key = normalize_url(url)
    except ValueError:
        return
    context.urls.add(key)
    if page is not None:
        context.pages[key] = page


def _add_search_result(context: Context, block: dict[str, Any], key: str | bytes) -> None:
    content = block.get("content")
    for result in content if isinstance(content, list) else ():
        if isinstance(result, dict) and isinstance(result.get("url"), str):
            _add(context, result["url"], open_content(key, result.get("encrypted_content") or ""))


def _add_fetch_result(context: Context, block: dict[str, Any]) -> None:
    content = block.get("content") or {}
    if content.get("type") != "web_fetch_result" or not isinstance(content.get("url"), str):
        return
    document = content.get("content") or {}
    text = block_text(document) if document.get("type") == "document" else ""
    _add(context, content["url"], Found(content["url"], document.get("title") or content["url"], text))
    _add_urls(context, text)
