"""Web search and web fetch over the local corpus: the corpus, the domain rules, the tokens, and
every block and citation checked against the official SDK's response types."""

from __future__ import annotations

import asyncio
import random
import textwrap
import time
import typing

import anthropic.types as sdk
import pytest
import yaml

from dateline import errors
from dateline import web_corpus as _web_corpus
from dateline.backends import _web, _web_domains
from dateline.backends._base import accumulate
from dateline.backends._server_tools import DIRECT, ToolError, block_events, cited_text, server_tool_use
from dateline.schemas import MessageCreateParams, validate
from dateline.types import Event

KEY = "test-signing-key"
SHANNON = "https://encyclopedia.example.org/wiki/Claude_Shannon"


def corpus(data: dict) -> _web_corpus.Corpus:
    return _web_corpus.parse(data)


# --- the tool definitions: which fields each version takes ---------------------------------------

COMMON = {"name", "type", "allowed_callers", "allowed_domains", "blocked_domains", "cache_control", "defer_loading"}
COMMON |= {"max_uses", "strict"}
FIELDS = {
    "web_search_20250305": COMMON | {"user_location"},
    "web_search_20260209": COMMON | {"user_location"},
    "web_search_20260318": COMMON | {"user_location", "response_inclusion"},
    "web_fetch_20250910": COMMON | {"citations", "max_content_tokens", "url_sources"},
    "web_fetch_20260209": COMMON | {"citations", "max_content_tokens", "url_sources"},
    "web_fetch_20260309": COMMON | {"citations", "max_content_tokens", "url_sources", "use_cache"},
    "web_fetch_20260318": COMMON
    | {"citations", "max_content_tokens", "url_sources", "use_cache", "response_inclusion"},
}
SDK_PARAMS = {
    "web_search_20250305": sdk.WebSearchTool20250305Param,
    "web_search_20260209": sdk.WebSearchTool20260209Param,
    "web_search_20260318": sdk.WebSearchTool20260318Param,
    "web_fetch_20250910": sdk.WebFetchTool20250910Param,
    "web_fetch_20260209": sdk.WebFetchTool20260209Param,
    "web_fetch_20260309": sdk.WebFetchTool20260309Param,
    "web_fetch_20260318": sdk.WebFetchTool20260318Param,
}
FULL_VALUES = {
    "allowed_callers": ["direct"],
    "allowed_domains": ["example.com"],
    "cache_control": {"type": "ephemeral"},
    "defer_loading": False,
    "max_uses": 3,
    "strict": False,
    "user_location": {"type": "approximate", "city": "Paris", "country": "FR", "timezone": "Europe/Paris"},
    "response_inclusion": "full",
    "citations": {"enabled": True},
    "max_content_tokens": 1000,
    "url_sources": {"user_input": {"type": "all"}},
    "use_cache": True,
}


def test_the_tool_types_are_the_sdks() -> None:
    sdk_types = {typing.get_args(typing.get_type_hints(p)["type"])[0] for p in SDK_PARAMS.values()}
    assert sdk_types == set(FIELDS)
    names = {n for n in dir(sdk) if n.startswith(("WebSearchTool2", "WebFetchTool2"))}
    assert names == {p.__name__ for p in SDK_PARAMS.values()}, "the SDK has a web tool version this module lacks"
    assert _web_domains.WEB_SEARCH_TYPES | _web_domains.WEB_FETCH_TYPES == set(FIELDS)


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_each_version_takes_its_fields_and_no_later_ones(kind: str) -> None:
    assert set(typing.get_type_hints(SDK_PARAMS[kind])) == FIELDS[kind]
    name = "web_search" if kind.startswith("web_search") else "web_fetch"
    # Every field but blocked_domains, which may not come with allowed_domains.
    tool = {"type": kind, "name": name} | {
        f: FULL_VALUES[f] for f in FIELDS[kind] - {"name", "type", "blocked_domains"}
    }
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    validate(MessageCreateParams, {**body, "tools": [tool]})
    _web_domains.check_tool(tool, f"tools.0.{kind}")
    for extra in sorted(set().union(*FIELDS.values()) - FIELDS[kind]):
        with pytest.raises(errors.InvalidRequestError, match=f"tools.0.{kind}.{extra}: Extra inputs"):
            validate(MessageCreateParams, {**body, "tools": [{**tool, extra: FULL_VALUES[extra]}]})


# --- the domain lists ----------------------------------------------------------------------------

WHERE = "tools.0.web_search_20250305"


def refused(tool: dict) -> str:
    with pytest.raises(errors.InvalidRequestError) as caught:
        _web_domains.check_tool({"type": "web_search_20250305", "name": "web_search", **tool}, WHERE)
    assert caught.value.status_code == 400 and caught.value.type == "invalid_request_error"
    return caught.value.message


def test_the_apis_own_texts() -> None:
    assert refused({"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}) == (
        f"{WHERE}: Only one of allowed_domains or blocked_domains may be set."
    )
    assert refused({"blocked_domains": []}) == (
        f"{WHERE}.blocked_domains: Empty list of domains is ambiguous. Provide at least one domain or null."
    )
    assert refused({"allowed_domains": ["example.com", "127.0.0.1"]}) == (
        f'{WHERE}.allowed_domains.1: IP addresses are not supported; provide a plain hostname like "example.com"'
    )
    assert refused({"max_uses": 0}) == f"{WHERE}.max_uses: Input should be greater than 0"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("https://example.com", "do not include a scheme"),
        ("example.com:443", "a port is not allowed"),
        ("*.example.com", "a wildcard (*) may appear only in the path"),
        ("ex*.com", "a wildcard (*) may appear only in the path"),
        ("example.com/*/news/*", "only one wildcard (*) is allowed per domain"),
        ("127.1", "IP addresses are not supported"),
        ("2130706433", "IP addresses are not supported"),
        ("[::1]", "IP addresses are not supported"),
        ("fe80::1", "IP addresses are not supported"),
        ("user@example.com", "credentials are not allowed"),
        ("exa mple.com", "whitespace is not allowed"),
        ("bücher.de", "Punycode"),
        ("com", "a single label is not a registrable domain"),
        ("intranet", "a single label is not a registrable domain"),
        ("co.uk", "a registry suffix is not a registrable domain"),
        ("localhost", "local and reserved names are not allowed"),
        ("printer.local", "local and reserved names are not allowed"),
        ("db.internal", "local and reserved names are not allowed"),
        ("-bad.example.com", "may not begin or end with a hyphen"),
        ("example..com", "no empty labels"),
        ("a" * 64 + ".com", "a label is at most 63 characters"),
        ("x" * 256, "1 to 255 characters"),
        ("", "1 to 255 characters"),
        ("example.com/a?b", "a path may not contain"),
        ("example.com/a!b", "a path may not contain"),
        ("exa%mple.com", "only ASCII letters, digits, hyphens, underscores and dots"),
    ],
)
def test_a_malformed_entry_is_a_400_naming_it(entry: str, says: str) -> None:
    message = refused({"blocked_domains": ["fine.example.com", entry]})
    assert message.startswith(f"{WHERE}.blocked_domains.1: ") and says in message


@pytest.mark.parametrize(
    "entry",
    ["example.com", "Docs.Example.COM", "example.com/", "example.com/blog", "example.com/*", "a_b.example.co.uk"],
)
def test_well_formed_entries_pass(entry: str) -> None:
    _web_domains.check_tool({"allowed_domains": [entry]}, WHERE)


def test_duplicates_and_locations_and_declared_sources() -> None:
    message = refused({"allowed_domains": ["example.com", "EXAMPLE.com/"]})
    assert message.startswith(f"{WHERE}.allowed_domains.1: duplicate domain")
    assert refused({"user_location": {"type": "approximate", "country": "XX"}}) == (
        f"{WHERE}.user_location.country: not a country the search provider supports"
    )
    _web_domains.check_tool(
        {"user_location": {"type": "approximate", "country": "gb", "timezone": "Europe/London"}}, WHERE
    )
    if _web_domains._time_zones():  # without a time-zone database nothing is refused
        assert "timezone: not a valid IANA time zone name" in refused(
            {"user_location": {"type": "approximate", "timezone": "Mars/Olympus_Mons"}}
        )
    fetch = {"type": "web_fetch_20250910", "name": "web_fetch"}
    sources = {"client_tool_results": {"type": "only", "tools": [{"type": "tool_reference", "name": "crawl"}]}}
    _web_domains.check_tool({**fetch, "url_sources": sources}, "tools.1.web_fetch_20250910", declared=["crawl"])
    with pytest.raises(errors.InvalidRequestError, match=r"url_sources.client_tool_results.tools.0.name: no tool"):
        _web_domains.check_tool({**fetch, "url_sources": sources}, "tools.1.web_fetch_20250910", declared=["x"])


def admits(entries: list[str], url: str, *, blocked: bool = False, paths: bool = True) -> bool:
    domains = tuple(map(_web_domains.parse_domain, entries))
    kind = (
        _web_domains.DomainFilter(None, domains, paths) if blocked else _web_domains.DomainFilter(domains, None, paths)
    )
    return kind.admits(url)


def test_domain_matching() -> None:
    assert admits(["example.com"], "https://docs.example.com/a")  # subdomains included
    assert admits(["example.com"], "http://EXAMPLE.com:8080/")
    assert not admits(["example.com"], "https://notexample.com/")  # not a suffix match
    assert not admits(["docs.example.com"], "https://example.com/")  # a subdomain restricts to itself
    assert not admits(["docs.example.com"], "https://api.example.com/")
    assert admits(["docs.example.com"], "https://v2.docs.example.com/")
    assert not admits(["www.example.com"], "https://example.com/")
    assert admits(["example.com/blog"], "https://example.com/blog/post-1")  # a path is a prefix
    assert not admits(["example.com/blog"], "https://example.com/shop")
    assert admits(["example.com/*/articles"], "https://example.com/2025/articles/x")
    assert not admits(["example.com/*/articles"], "https://example.com/2025/news/x")
    assert admits(["example.com/blog"], "https://example.com/shop", paths=False)  # fetch: the host only
    assert not admits(["example.com"], "https://docs.example.com/", blocked=True)
    assert admits(["example.com"], "https://example.org/", blocked=True)
    assert not admits(["example.com"], "not a url")


# --- the corpus ----------------------------------------------------------------------------------


def test_the_built_in_corpus() -> None:
    base = _web_corpus.default()
    assert len(base.pages) >= 12 and base.fallback
    for url, page in base.pages.items():
        assert page.title and len(page.text or "") > 200, url
        assert _web.fetch(None, url).text == page.text
    for rule in base.search:
        assert _web.search(None, rule.query.split("|")[0].removeprefix("(?i)").replace("\\b", "")), rule.query


def test_the_documented_shape_parses() -> None:
    doc = _web_corpus.__doc__ or ""
    section = yaml.safe_load(textwrap.dedent(doc[doc.index("::\n") + 3 : doc.index("The built-in corpus")]))
    parsed = corpus(section["web"])
    assert [r.error for r in parsed.search] == [None, "unavailable"]
    assert parsed.pages["https://ir.example.com/deck.pdf"].media_type == "application/pdf"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"search": [{"query": "(a", "results": []}]}, "web.search.0.query: invalid regular expression"),
        ({"search": [{"query": "(?=x)", "results": []}]}, "web.search.0.query: invalid regular expression"),
        ({"search": [{"query": "a"}]}, "web.search.0: give either results or error"),
        ({"search": [{"query": "a", "results": [], "error": "unavailable"}]}, "give either results or error"),
        ({"search": [{"query": "a", "error": "url_too_long"}]}, "web.search.0.error: Input should be"),
        ({"search": [{"query": "a", "results": [{"url": "ftp://x.example.com/"}]}]}, "not an absolute http(s) URL"),
        (
            {"search": [{"query": "a", "results": [{"url": "https://x.example.com/"}]}]},
            "results.0.title: a result whose",
        ),
        ({"pages": {"https://x.example.com/": {"title": "T"}}}, "a text/plain page needs its text"),
        ({"pages": {"https://x.example.com/": {"media_type": "application/pdf"}}}, "needs its bytes in data"),
        ({"pages": {"https://x.example.com/": {"media_type": "application/pdf", "data": "***"}}}, "data is not base64"),
        ({"pages": {"https://x.example.com/": {"error": "unavailable", "text": "t"}}}, "a page with an error has no"),
        ({"pages": {"x.example.com": {"text": "t"}}}, "web.pages: not an absolute http(s) URL: 'x.example.com'"),
        ({"fallback": [{"url": "https://x.example.com/{slug}", "title": "{nope}"}]}, "unknown placeholder {nope}"),
        ({"fallback": [{"url": "https://x.example.com/{slug}"}]}, "a fallback result needs a title"),
        ({"retrieved_at": "yesterday"}, "web.retrieved_at: not an ISO 8601 time"),
        ({"serach": []}, "web.serach: Extra inputs are not permitted"),
    ],
)
def test_a_bad_corpus_is_refused_naming_the_field(data: dict, says: str) -> None:
    with pytest.raises(_web_corpus.CorpusError) as caught:
        corpus(data)
    assert says in str(caught.value)


# --- search --------------------------------------------------------------------------------------


def test_a_rule_answers_and_the_blocks_validate() -> None:
    found = _web.search(None, "When was Claude Shannon born?")
    assert [f.url for f in found] == [SHANNON, "https://news.example.com/science/2016/04/shannon-centenary"]
    block = _web.search_result_block("srvtoolu_01", found, key=KEY)
    parsed = sdk.WebSearchToolResultBlock.model_validate(block)
    assert [r.url for r in parsed.content] == [f.url for f in found]  # type: ignore[union-attr]
    assert parsed.content[1].page_age == "April 30, 2016" and parsed.content[0].page_age is None  # type: ignore[index]
    assert parsed.caller is not None and parsed.caller.type == "direct"
    assert list(block["content"][0]) == ["type", "title", "url", "encrypted_content", "page_age"]
    assert _web.search(None, "When was Claude Shannon born?") == found  # deterministic


@pytest.mark.parametrize("code", typing.get_args(sdk.WebSearchToolResultErrorCode))
def test_every_search_error_comes_from_a_rule(code: str) -> None:
    data = {"search": [{"query": "(?i)^break$", "error": code}]}
    with pytest.raises(ToolError) as caught:
        _web.search(corpus(data), "BREAK")
    block = _web.search_error_block("srvtoolu_01", caught.value.code)
    assert sdk.WebSearchToolResultBlock.model_validate(block).content.error_code == code  # type: ignore[union-attr]


def test_bad_queries() -> None:
    for query in ("", "   ", None, 7):
        with pytest.raises(ToolError) as caught:
            _web.search(None, query)
        assert caught.value.code == "invalid_tool_input"
    assert _web.search(None, "x" * 400)
    for query in ("x" * 401, " ".join(["w"] * 51)):
        with pytest.raises(ToolError) as caught:
            _web.search(None, query)
        assert caught.value.code == "query_too_long"


def test_a_user_corpus_comes_before_the_built_in_one() -> None:
    mine = corpus(
        {
            "search": [
                {
                    "query": "(?i)shannon",
                    "results": [{"url": "https://mine.example.com/s", "title": "Mine", "text": "T."}],
                },
                {"query": "(?i)nothing here", "results": []},
                {"query": "(?i)quarterly", "country": "GB", "results": [{"url": "https://uk.example.co.uk/q"}]},
                {"query": "(?i)quarterly", "results": [{"url": "https://us.example.com/q", "title": "US"}]},
            ],
            "pages": {
                "https://uk.example.co.uk/q": {"title": "UK results", "text": "Up 3%.", "page_age": "May 1, 2025"}
            },
        }
    )
    assert [f.title for f in _web.search(mine, "Shannon")] == ["Mine"]
    assert _web.search(mine, "nothing here at all") == []  # an explicit empty answer
    assert _web.search(mine, "photosynthesis")[0].url.endswith("/Photosynthesis")  # the built-in rules after
    gb = _web.search(mine, "quarterly", user_location={"type": "approximate", "country": "GB"})
    assert [(f.title, f.text, f.page_age) for f in gb] == [("UK results", "Up 3%.", "May 1, 2025")]
    assert [f.title for f in _web.search(mine, "quarterly")] == ["US"]
    alone = corpus({"builtin": False, "search": mine.search, "pages": mine.pages})
    same = corpus(
        {"search": [{"query": "x", "results": [{"url": "HTTPS://UK.example.co.uk:443/q#top"}]}], "pages": mine.pages}
    )
    assert _web.search(same, "x")[0].title == "UK results"  # a result finds its page as URLs compare
    assert _web.search(alone, "photosynthesis") == []  # no rule, no fallback of its own
    assert _web.search(alone, "Shannon")[0].title == "Mine"


def test_the_fallback_is_made_from_the_query() -> None:
    found = _web.search(None, "lattice quantum chromodynamics")
    assert [f.url for f in found] == [
        "https://encyclopedia.example.org/wiki/Lattice_Quantum_Chromodynamics",
        "https://news.example.com/topics/Lattice_Quantum_Chromodynamics",
        "https://docs.example.net/guides/Lattice_Quantum_Chromodynamics",
    ]
    assert all("lattice quantum chromodynamics" in f.text for f in found)
    assert all(f.page_age and f.page_age[-4:].isdigit() for f in found)
    assert found == _web.search(None, "lattice quantum chromodynamics")
    assert found != _web.search(None, "lattice gauge theory")
    paris = _web.search(None, "street food", user_location={"type": "approximate", "city": "Paris", "country": "FR"})
    assert paris[1].title == "The latest on Street Food in Paris, FR - Example News"
    assert len(_web.search(None, "street food", max_results=2)) == 2


def test_domain_filters_shape_the_results() -> None:
    allowed = _web.search(None, "lattice gauge theory", allowed_domains=["physics.example.com", "arxiv.org/abs/*"])
    assert [f.url for f in allowed] == [
        "https://physics.example.com/wiki/Lattice_Gauge_Theory",
        "https://arxiv.org/abs/topics/Lattice_Gauge_Theory",
        "https://physics.example.com/guides/Lattice_Gauge_Theory",
    ]
    # A rule whose results the filter removes gives way to the fallback, on the allowed domain.
    assert [f.url for f in _web.search(None, "sourdough", allowed_domains=["bakery.example.com"])] == [
        "https://bakery.example.com/wiki/Sourdough",
        "https://bakery.example.com/topics/Sourdough",
        "https://bakery.example.com/guides/Sourdough",
    ]
    two = _web.search(None, "Claude Shannon", blocked_domains=["news.example.com"])
    assert [f.url for f in two] == [SHANNON]
    none = _web.search(None, "anything at all", blocked_domains=["example.org", "example.com", "example.net"])
    assert none == []
    with pytest.raises(ToolError) as caught:
        _web.search(None, "x", allowed_domains=["https://example.com"])
    assert caught.value.code == "invalid_tool_input"


# --- tokens --------------------------------------------------------------------------------------


def test_tokens_are_opaque_deterministic_and_sealed() -> None:
    token = _web.seal(KEY, "content", ["https://a.example.com/", "A", "text", None])
    assert token == _web.seal(KEY, "content", ["https://a.example.com/", "A", "text", None])
    assert "a.example.com" not in token and "text" not in token
    assert _web.open_content(KEY, token) == _web.Found("https://a.example.com/", "A", "text", None)
    assert _web.open_content("another key", token) is None
    assert _web.open_index(KEY, token) is None  # a content token is no index
    raw = bytearray(__import__("base64").b64decode(token))
    for i in (0, 5, len(raw) - 1):
        edited = raw.copy()
        edited[i] ^= 1
        assert _web.open_content(KEY, __import__("base64").b64encode(bytes(edited)).decode()) is None
    for junk in ("", "not base64!", "AAAA", token[:-4]):
        assert _web.open_content(KEY, junk) is None
    assert _web.open_content(KEY.encode(), token) is not None  # the key as bytes or str


def test_a_big_page_seals_quickly() -> None:
    text = "All work and no play. " * 50_000
    started = time.perf_counter()
    token = _web.seal(KEY, "content", ["https://a.example.com/", "A", text, None])
    assert _web.open_content(KEY, token).text == text  # type: ignore[union-attr]
    assert time.perf_counter() - started < 2


# --- fetch ---------------------------------------------------------------------------------------


def test_fetch_a_page_and_validate_the_block() -> None:
    fetched = _web.fetch(None, SHANNON, citations=True)
    block = _web.fetch_result_block("srvtoolu_02", fetched)
    parsed = sdk.WebFetchToolResultBlock.model_validate(block)
    assert parsed.content.type == "web_fetch_result"  # type: ignore[union-attr]
    document = parsed.content.content  # type: ignore[union-attr]
    assert document.source.type == "text" and document.source.data.startswith("Claude Elwood Shannon")
    assert document.title == "Claude Shannon - Encyclopedia" and document.citations.enabled  # type: ignore[union-attr]
    assert parsed.content.retrieved_at == "2026-01-15T09:30:00Z"  # type: ignore[union-attr]
    assert list(block["content"]) == ["type", "url", "content", "retrieved_at"]
    assert _web.fetch(None, SHANNON).citations is False  # off unless the tool turns them on


def test_fetch_failures_in_order() -> None:
    def code(url: object, **kwargs: object) -> str:
        with pytest.raises(ToolError) as caught:
            _web.fetch(None, url, **kwargs)  # type: ignore[arg-type]
        return caught.value.code

    long = "https://encyclopedia.example.org/wiki/" + "a" * 250
    assert code(long[:251]) == "url_too_long"
    assert code(long[:250]) == "url_not_accessible"  # 250 is still allowed
    assert code(None) == code("") == code("mailto:a@example.com") == code("http://[::1") == "invalid_tool_input"
    assert code(SHANNON, blocked_domains=["example.org"]) == "url_not_allowed"
    assert code(SHANNON, allowed_domains=["example.com"]) == "url_not_allowed"
    assert _web.fetch(None, SHANNON, allowed_domains=["example.org/elsewhere"]).title  # fetch matches hosts only
    assert code(SHANNON, context=_web.Context()) == "url_not_in_prior_context"
    assert code("https://unknown.example.com/page") == "url_not_accessible"


@pytest.mark.parametrize("error", typing.get_args(sdk.WebFetchToolResultErrorCode))
def test_every_fetch_error_comes_from_a_page(error: str) -> None:
    mine = corpus({"pages": {"https://x.example.com/p": {"error": error}}})
    with pytest.raises(ToolError) as caught:
        _web.fetch(mine, "https://X.example.com:443/p#top")  # the same URL, as compared
    block = _web.fetch_error_block("srvtoolu_03", caught.value.code)
    assert sdk.WebFetchToolResultBlock.model_validate(block).content.error_code == error  # type: ignore[union-attr]


def test_pdfs_other_types_and_limits() -> None:
    mine = corpus(
        {
            "retrieved_at": "2025-08-25T10:30:00Z",
            "pages": {
                "https://x.example.com/a.pdf": {"title": "A", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
                "https://x.example.com/a.png": {"media_type": "image/png", "text": "\x89PNG"},
                "https://x.example.com/long": {
                    "title": "Long",
                    "text": "one two three four five six",
                    "retrieved_at": "2025-01-01T00:00:00Z",
                },
            },
        }
    )
    pdf = _web.fetch(mine, "https://x.example.com/a.pdf", citations=True)
    block = sdk.WebFetchToolResultBlock.model_validate(_web.fetch_result_block("srvtoolu_04", pdf))
    assert block.content.content.source.type == "base64" and block.content.retrieved_at == "2025-08-25T10:30:00Z"  # type: ignore[union-attr]
    assert _web.fetch_citation(pdf, "anything", document_index=0) is None
    with pytest.raises(ToolError, match="unsupported_content_type"):
        _web.fetch(mine, "https://x.example.com/a.png")
    cut = _web.fetch(mine, "https://x.example.com/long", max_content_tokens=3)
    assert cut.text == "one two three" and cut.retrieved_at == "2025-01-01T00:00:00Z"
    assert _web.fetch(mine, SHANNON).title  # the built-in pages stay behind a user's corpus
    known = _web.fetch(mine, "https://news.example.com/science/2016/04/shannon-centenary")
    assert known.title == "A century of information theory"  # a page a search rule shows


# --- what the conversation has shown -------------------------------------------------------------


def conversation() -> list[dict]:
    found = _web.search(None, "sourdough")
    return [
        {"role": "user", "content": "Read https://docs.example.net/rust/ownership. Or (https://w.example.org/A_(b))!"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "crawl", "input": {}},
                {"type": "tool_use", "id": "toolu_2", "name": "notes", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "see http://crawled.example.com/x"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "https://notes.example.com/n"}],
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                server_tool_use("web_search", {"query": "sourdough"}, rng=random.Random(1)),
                _web.search_result_block("srvtoolu_s", found, key=KEY),
                {"type": "server_tool_use", "id": "srvtoolu_f", "name": "web_fetch", "input": {"url": SHANNON}},
                _web.fetch_result_block("srvtoolu_f", _web.fetch(None, SHANNON)),
            ],
        },
    ]


def test_urls_in_context() -> None:
    context = _web.read_context(conversation(), key=KEY)
    assert context.urls == {
        "https://docs.example.net/rust/ownership",
        "https://w.example.org/A_(b)",
        "http://crawled.example.com/x",
        "https://notes.example.com/n",
        "https://recipes.example.com/bread/sourdough",
        SHANNON,
    }
    assert context.has("HTTPS://docs.example.net:443/rust/ownership#intro")
    assert (
        context.pages["https://recipes.example.com/bread/sourdough"].title == "A first sourdough loaf - Example Recipes"
    )
    assert context.pages[SHANNON].text.startswith("Claude Elwood Shannon")


def test_urls_in_a_hostile_text_are_read_in_linear_time() -> None:
    brackets = ("see https://x.example.com/" + ")" * 2_000 + " ") * 1_000
    text = brackets + " and https://y.example.com/" + "a" * 3_000_000 + "."
    started = time.perf_counter()
    context = _web.read_context([{"role": "user", "content": text}], key=KEY)
    assert context.urls == {"https://x.example.com/"}  # the unopened brackets go; the huge URL is not kept
    assert time.perf_counter() - started < 2


def test_url_sources_narrow_the_context() -> None:
    def urls(**sources: object) -> set[str]:
        return _web.read_context(conversation(), key=KEY, url_sources=sources).urls

    assert "https://docs.example.net/rust/ownership" not in urls(user_input={"type": "none"})
    only = urls(client_tool_results={"type": "only", "tools": [{"type": "tool_reference", "name": "crawl"}]})
    assert "http://crawled.example.com/x" in only and "https://notes.example.com/n" not in only
    other = urls(client_tool_results={"type": "except", "tools": [{"type": "tool_reference", "name": "crawl"}]})
    assert "http://crawled.example.com/x" not in other and "https://notes.example.com/n" in other
    assert SHANNON not in urls(server_tool_results={"type": "none"})
    searched = urls(server_tool_results={"type": "only", "tools": [{"type": "tool_reference", "name": "web_search"}]})
    assert "https://recipes.example.com/bread/sourdough" in searched and SHANNON not in searched


def test_a_page_found_by_search_can_be_fetched() -> None:
    mine = corpus(
        {
            "builtin": False,
            "fallback": [{"url": "https://gen.example.com/{slug}", "title": "{Title}", "text": "All about {query}."}],
        }
    )
    found = _web.search(mine, "tide tables")
    messages = [
        {"role": "user", "content": "find tide tables"},
        {"role": "assistant", "content": [_web.search_result_block("srvtoolu_s", found, key=KEY)]},
    ]
    context = _web.read_context(messages, key=KEY)
    fetched = _web.fetch(mine, "https://gen.example.com/Tide_Tables", context=context)
    assert (fetched.title, fetched.text) == ("Tide Tables", "All about tide tables.")
    forged = _web.read_context(messages, key="another key")  # tokens another server sealed say nothing
    with pytest.raises(ToolError, match="url_not_accessible"):
        _web.fetch(mine, "https://gen.example.com/Tide_Tables", context=forged)


# --- citations and streaming ---------------------------------------------------------------------


def test_search_citations() -> None:
    query = "what did Shannon's 1948 paper define?"
    for found in _web.search(None, query):
        citation = _web.search_citation(found, query, key=KEY)
        parsed = sdk.CitationsWebSearchResultLocation.model_validate(citation)
        assert 0 < len(parsed.cited_text) <= 150 and parsed.cited_text in found.text
        assert list(citation) == ["type", "cited_text", "url", "title", "encrypted_index"]
        url, start, end = _web.open_index(KEY, parsed.encrypted_index)  # type: ignore[misc]
        assert url == found.url and found.text[start:end] == parsed.cited_text
    best = _web.search_citation(_web.search(None, query)[0], query, key=KEY)["cited_text"]
    assert best.startswith("In 1948 he published")


def test_fetch_citations() -> None:
    fetched = _web.fetch(None, "https://docs.example.net/rust/ownership", citations=True)
    citation = _web.fetch_citation(fetched, "how many mutable references may exist", document_index=2)
    parsed = sdk.CitationCharLocation.model_validate(citation)
    assert fetched.text[parsed.start_char_index : parsed.end_char_index] == parsed.cited_text
    assert parsed.cited_text.startswith("References borrow a value") and parsed.document_index == 2
    assert (
        _web.fetch_citation(_web.fetch(None, "https://docs.example.net/rust/ownership"), "x", document_index=0) is None
    )
    assert _web.best_sentence("No match here. None at all.", "zebra") == (0, 14)


def message_start() -> Event:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "usage": {}}
    return Event("message_start", {"type": "message_start", "message": message})


def fold(events: list[Event]) -> dict:
    async def stream():
        for event in [message_start(), *events]:
            yield event

    return asyncio.run(accumulate(stream()))


@pytest.mark.parametrize("stream", [True, False])
def test_server_tool_blocks_stream_and_fold_back(stream: bool) -> None:
    call = server_tool_use("web_search", {"query": "Claude Shannon – “bits”"}, rng=random.Random(7))
    assert call["id"] == server_tool_use("web_search", {}, rng=random.Random(7))["id"]
    assert call["id"].startswith("srvtoolu_011C") and len(call["id"]) == len("srvtoolu_011C") + 20
    found = _web.search(None, "Claude Shannon")
    result = _web.search_result_block(call["id"], found, key=KEY)
    text = cited_text("Shannon founded information theory.", [_web.search_citation(found[0], "Shannon", key=KEY)])
    blocks = [call, result, text]
    events = [e for i, b in enumerate(blocks) for e in block_events(i, b, stream=stream)]
    models = {
        "content_block_start": sdk.RawContentBlockStartEvent,
        "content_block_delta": sdk.RawContentBlockDeltaEvent,
    }
    for event in events:
        models.get(event.name, sdk.RawContentBlockStopEvent).model_validate(event.data)
    starts = [e.data["content_block"] for e in events if e.name == "content_block_start"]
    assert starts[0]["input"] == {} and starts[1] == result
    assert starts[2] == {"citations": [], "type": "text", "text": ""}
    deltas = [e.data["delta"]["type"] for e in events if e.name == "content_block_delta" and e.data["index"] == 2]
    assert deltas[0] == "citations_delta" and set(deltas[1:]) == {"text_delta"}
    assert (len(deltas) > 2) is stream
    folded = fold(events)
    assert folded["content"] == blocks
    message = sdk.Message.model_validate(
        {**folded, "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    )
    assert [b.type for b in message.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert sdk.ServerToolUseBlock.model_validate(call).caller.type == "direct"  # type: ignore[union-attr]
    assert call["caller"] == DIRECT and "caller" not in server_tool_use(
        "web_fetch", {}, rng=random.Random(1), caller=None
    )


def test_a_fetch_turn_validates_as_a_message() -> None:
    call = server_tool_use("web_fetch", {"url": SHANNON}, rng=random.Random(3))
    fetched = _web.fetch(None, SHANNON, citations=True)
    citation = _web.fetch_citation(fetched, "maze-solving mouse", document_index=0)
    content = [call, _web.fetch_result_block(call["id"], fetched), cited_text("He built a mouse.", [citation])]  # type: ignore[list-item]
    message = sdk.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 1,
                "output_tokens": 1,
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 1},
            },
        }
    )
    assert message.content[2].citations[0].cited_text.startswith("He also built a maze-solving")  # type: ignore[union-attr]
