"""The local web that web search and web fetch read: a corpus the user controls.

A corpus is data (a ``web:`` section of a rules file, YAML or JSON)::

    web:
      builtin: true           # the built-in corpus answers what these entries do not
      retrieved_at: "2026-01-15T09:30:00Z"
      search:                 # tried in order; the first that matches answers
        - query: "(?i)quarterly (report|results)"   # RE2, searched in the search query
          country: US         # optional: only when user_location.country is US
          results:
            - {url: "https://ir.example.com/q3", title: "Q3 results", page_age: "October 30, 2025",
               text: "Revenue grew 12% on the year."}
            - {url: "https://ir.example.com/q2"}    # title and text from `pages`
        - {query: "(?i)outage", error: unavailable}
      pages:                  # what web fetch finds at a URL
        "https://ir.example.com/q2": {title: "Q2 results", text: "Revenue grew 9%."}
        "https://ir.example.com/deck.pdf": {title: "Deck", media_type: application/pdf, data: JVBERi0x}
        "https://ir.example.com/private": {error: url_not_accessible}
      fallback:               # results made from the query when no rule matches ([]: none)
        - {url: "https://wiki.example.com/{slug}", title: "{Title}", text: "About {query}{in_place}."}

The built-in corpus (``src/dateline/web_corpus.yaml``) is one such
section; with ``builtin: true`` (the default) a user's corpus is tried first
and the built-in one after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import string
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._re2 import regex as _regex

SearchErrorCode = Literal[
    "invalid_tool_input", "unavailable", "max_uses_exceeded", "too_many_requests", "query_too_long", "request_too_large"
]
FetchErrorCode = Literal[
    "invalid_tool_input",
    "url_too_long",
    "url_not_allowed",
    "url_not_in_prior_context",
    "url_not_accessible",
    "unsupported_content_type",
    "too_many_requests",
    "max_uses_exceeded",
    "unavailable",
    "content_too_large",
]
#: What a fallback template may say, filled from the query and the user's location.
PLACEHOLDERS = ("query", "Title", "slug", "in_place")

_DEFAULT_FILE = Path(__file__).resolve().parent / "web_corpus.yaml"
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")


@dataclass(frozen=True)
class Found:
    """A page as a search result shows it: where, what it is called, and its text (what may be cited)."""

    url: str
    title: str
    text: str
    page_age: str | None = None


class CorpusError(ValueError):
    """A corpus that cannot be used; the message names the entry and field (``web.search.0.query: …``)."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"not an absolute http(s) URL: {url[:200]!r}")
    return url


class Result(_Data):
    """One search result; a fallback template when its fields hold placeholders."""

    url: str
    title: str | None = Field(default=None, min_length=1)  #: default: the page's title
    page_age: str | None = Field(default=None, min_length=1)
    text: str | None = None  #: what may be cited; default: the page's text, else the title


class SearchRule(_Data):
    query: str  #: RE2 regex searched in the search query
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    results: list[Result] | None = None  #: [] answers with no results
    error: SearchErrorCode | None = None  #: answer with this error instead

    @field_validator("query")
    @classmethod
    def _query_regex(cls, value: str) -> str:
        _regex(value)
        return value

    @field_validator("results")
    @classmethod
    def _urls(cls, value: list[Result] | None) -> list[Result] | None:
        for result in value or ():
            _check_url(result.url)
        return value

    @model_validator(mode="after")
    def _one_answer(self) -> SearchRule:
        if (self.results is None) == (self.error is None):
            raise ValueError("give either results or error")
        return self


class Page(_Data):
    title: str | None = Field(default=None, min_length=1)
    text: str | None = None
    page_age: str | None = Field(default=None, min_length=1)  #: what a search result naming it says
    media_type: str = "text/plain"  #: text/plain, application/pdf (with data), else unsupported
    data: str | None = None  #: base64 bytes of a PDF
    retrieved_at: str | None = None  #: default: the corpus's
    error: FetchErrorCode | None = None  #: answer a fetch with this error instead

    @model_validator(mode="after")
    def _content(self) -> Page:
        if self.error is not None:
            if any(v is not None for v in (self.title, self.text, self.data, self.page_age)):
                raise ValueError("a page with an error has no title, text, page_age or data")
            return self
        if not _MEDIA_TYPE.fullmatch(self.media_type):
            raise ValueError(f"media_type is not a MIME type: {self.media_type!r}")
        if self.media_type == "application/pdf":
            if self.data is None:
                raise ValueError("an application/pdf page needs its bytes in data (base64)")
            try:
                base64.b64decode(self.data, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("data is not base64") from None
        elif self.data is not None:
            raise ValueError("data is for application/pdf pages; give a text page its text")
        elif self.media_type == "text/plain" and self.text is None:
            raise ValueError("a text/plain page needs its text")
        if self.retrieved_at is not None:
            _check_time(self.retrieved_at)
        return self


def _check_time(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    return value


class Corpus(_Data):
    builtin: bool = True  #: whether the built-in corpus answers what this one does not
    retrieved_at: str = "2026-01-15T09:30:00Z"  #: when fetched pages say they were retrieved
    search: list[SearchRule] = Field(default_factory=list)
    pages: dict[str, Page] = Field(default_factory=dict)
    fallback: list[Result] | None = None  #: templates; None: the built-in corpus's (or none)

    @field_validator("retrieved_at")
    @classmethod
    def _time(cls, value: str) -> str:
        return _check_time(value)

    @cached_property
    def digest(self) -> bytes:
        """What the corpus says, in 16 bytes: answers made from it are remembered under this."""
        return hashlib.blake2b(self.model_dump_json().encode(), digest_size=16).digest()

    @field_validator("pages")
    @classmethod
    def _page_urls(cls, value: dict[str, Page]) -> dict[str, Page]:
        for url in value:
            _check_url(url)
        return value

    @field_validator("fallback")
    @classmethod
    def _templates(cls, value: list[Result] | None) -> list[Result] | None:
        sample = {"query": "q", "Title": "Q", "slug": "Q", "in_place": " in Paris"}
        for template in value or ():
            if template.title is None:
                raise ValueError("a fallback result needs a title")
            for text in (template.url, template.title, template.text or "", template.page_age or ""):
                for _, name, spec, conversion in string.Formatter().parse(text):
                    if name is not None and (name not in PLACEHOLDERS or spec or conversion):
                        raise ValueError(
                            f"unknown placeholder {{{name}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
                        )
            _check_url(template.url.format(**sample))
        return value


def parse(data: Any, *, where: str = "web") -> Corpus:
    """Validate a corpus given as data, with the built-in one behind it unless ``builtin: false``."""
    try:
        corpus = Corpus.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in (where, *err["loc"]))
        raise CorpusError(f"{loc}: {err['msg'].removeprefix('Value error, ')}") from None
    pages = {normalize_url(u) for u in (*corpus.pages, *(default().pages if corpus.builtin else ()))}
    for i, rule in enumerate(corpus.search):
        for j, result in enumerate(rule.results or ()):
            if result.title is None and normalize_url(result.url) not in pages:
                raise CorpusError(
                    f"{where}.search.{i}.results.{j}.title: a result whose URL is not in pages needs a title"
                )
    return corpus


@cache
def default() -> Corpus:
    """The built-in corpus: a dozen pages on varied topics, and results made from any query."""
    import yaml

    data = yaml.load(_DEFAULT_FILE.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return Corpus.model_validate(data)


def effective(corpus: Corpus | None) -> Corpus:
    """What web tools read: ``corpus`` with the built-in one behind it (when it asks for that)."""
    if corpus is None:
        return default()
    if not corpus.builtin:
        return corpus
    base = default()
    return Corpus.model_construct(  # both are valid already
        builtin=False,
        retrieved_at=corpus.retrieved_at,
        search=[*corpus.search, *base.search],
        pages={**base.pages, **corpus.pages},
        fallback=corpus.fallback if corpus.fallback is not None else base.fallback,
    )


def find_page(corpus: Corpus, url: str) -> Page | None:
    """The page of ``corpus`` at ``url``, URLs compared as ``normalize_url`` has them."""
    page = corpus.pages.get(url)
    if page is not None:
        return page
    key = normalize_url(url)
    return next((p for u, p in corpus.pages.items() if normalize_url(u) == key), None)


def normalize_url(url: str) -> str:
    """``url`` as compared: scheme and host in lower case, no default port, fragment or credentials.

    Raises ``ValueError`` for what is not an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"not an http(s) URL: {url[:100]!r}")
    port = parts.port  # ValueError for a bad one
    netloc = host if port is None or port == {"http": 80, "https": 443}[scheme] else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


_serving: ContextVar[Corpus | None] = ContextVar("dateline_web_corpus", default=None)


def serve(corpus: Corpus | None) -> None:
    """Make ``corpus`` (the rules file's ``web:``; None: the built-in one) what web tools read
    while this request is answered: set by the Messages resource, read by the built-in model."""
    _serving.set(corpus)


def serving() -> Corpus | None:
    """The corpus this request's web tools read (None: the built-in one)."""
    return _serving.get()
