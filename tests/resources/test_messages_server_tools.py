"""Server tools on POST /v1/messages, through the official SDK with strict response validation,
against the app in process: web search (its result blocks, citations and usage, streamed and not,
under every version), web fetch, tool search then a call of a tool it found, ``max_uses``,
``pause_turn`` and its resume, the corpus from the rules file, and the refusals: a server tool
the built-in model cannot run, and every server tool through the ``openai`` backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import httpx2
import pydantic
import pytest
from anthropic.types import (
    CitationCharLocation,
    CitationsWebSearchResultLocation,
    Message,
    ServerToolUseBlock,
    TextBlock,
    ToolSearchToolResultBlock,
    ToolUseBlock,
    WebFetchToolResultBlock,
    WebSearchToolResultBlock,
)

from dateline import Settings, create_app, script, web_corpus
from dateline.backends import _web
from dateline.backends.openai import OpenAIBackend
from dateline.thinking import Signer
from dateline.upstream import Clients, Pool, Target, Upstream

VERSIONS = ["2023-01-01", "2023-06-01", "2026-10-21"]
MODEL = "claude-sonnet-4-5"
KEY = "test-key"
WEB_KEY = Signer(KEY).derive(b"web")
SEARCH = {"type": "web_search_20250305", "name": "web_search"}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch", "citations": {"enabled": True}}
SHANNON = "https://encyclopedia.example.org/wiki/Claude_Shannon"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "defer_loading": True,
}
STOCKS = {
    "name": "get_stock_price",
    "description": "Latest stock price for a ticker symbol.",
    "input_schema": {"type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]},
    "defer_loading": True,
}
ECHO = {"name": "echo", "description": "Say it back.", "input_schema": {"type": "object", "properties": {}}}
CORPUS = {
    "search": [
        {
            "query": "(?i)dateline",
            "results": [
                {
                    "url": "https://docs.example.com/dateline",
                    "title": "Dateline docs",
                    "text": "Dateline emulates the API.",
                },
                {"url": "https://blog.example.com/dateline", "page_age": "May 1, 2026"},
            ],
        },
        {"query": "(?i)outage", "error": "unavailable"},
    ],
    "pages": {
        "https://blog.example.com/dateline": {"title": "Why Dateline", "text": "Tests run offline. Answers repeat."},
        "https://blog.example.com/private": {"error": "url_not_accessible"},
    },
}


def run(test: Callable[[anthropic.AsyncAnthropic], Awaitable[Any]], *, version: str = "2023-06-01", **app: Any) -> Any:
    """Run ``test`` with an SDK client of a fresh in-process app (``rules``, ``backend`` as given)."""

    async def go() -> Any:
        application = create_app(Settings(signing_key=KEY), backend=app.get("backend"))
        if app.get("rules") is not None:
            application.state.dateline.scripter.load(script.parse(app["rules"]))
        transport = httpx2.ASGITransport(app=application)
        async with httpx2.AsyncClient(transport=transport, base_url="http://dateline") as http:
            client = anthropic.AsyncAnthropic(
                base_url="http://dateline",
                api_key="sk-ant-test",
                http_client=http,
                max_retries=0,
                default_headers={"anthropic-version": version},
                _strict_response_validation=True,
            )
            return await test(client)

    return asyncio.run(go())


def ask(text: str, *tools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        "tools": list(tools),
        **extra,
    }


async def both(client: anthropic.AsyncAnthropic, request: dict[str, Any]) -> tuple[Message, Message, list[Any]]:
    """The non-streamed answer, the streamed one as the SDK folds it, and the stream's events."""
    message = await client.messages.create(**request)
    events = []
    async with client.messages.stream(**request) as stream:
        async for event in stream:
            events.append(event)
        folded = await stream.get_final_message()
    return message, folded, [e for e in events if e.type in _RAW]


_RAW = {"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta"}


def same(a: Message, b: Message) -> None:
    assert a.model_dump(exclude={"id"}) == b.model_dump(exclude={"id"})


def types(message: Message) -> list[str]:
    return [b.type for b in message.content]


def citations(message: Message) -> list[Any]:
    return [c for b in message.content if isinstance(b, TextBlock) for c in b.citations or ()]


# --------------------------------------------------------------------------
# Web search
# --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_web_search_turn_validates_streamed_and_not(version: str) -> None:
    request = ask("Search the web for Claude Shannon", {**SEARCH, "max_uses": 3})
    message, folded, events = run(lambda c: both(c, request), version=version)
    same(message, folded)
    assert types(message)[:3] == ["text", "server_tool_use", "web_search_tool_result"]
    assert message.stop_reason == "end_turn"
    call, result = message.content[1], message.content[2]
    assert isinstance(call, ServerToolUseBlock) and isinstance(result, WebSearchToolResultBlock)
    assert (call.name, call.input, call.id.startswith("srvtoolu_")) == ("web_search", {"query": "Claude Shannon"}, True)
    assert result.tool_use_id == call.id and isinstance(result.content, list)
    urls = [r.url for r in result.content]
    assert urls[0] == SHANNON and all(r.encrypted_content and r.title for r in result.content)
    cited = citations(message)
    assert cited and all(isinstance(c, CitationsWebSearchResultLocation) for c in cited)
    assert {c.url for c in cited} <= set(urls) and all(len(c.cited_text) <= 150 for c in cited)
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.usage.server_tool_use.web_fetch_requests == 0
    # Each citation's encrypted index opens, with the server's key, to the span it cites.
    for citation in cited:
        url, start, end = _web.open_index(WEB_KEY, citation.encrypted_index)
        page = next(_web.open_content(WEB_KEY, r.encrypted_content) for r in result.content if r.url == url)
        assert page.text[start:end].startswith(citation.cited_text)


def test_the_stream_sends_server_tool_blocks_as_the_api_does() -> None:
    _, folded, events = run(lambda c: both(c, ask("Search the web for Claude Shannon", SEARCH)))
    starts = {e.index: e.content_block for e in events if e.type == "content_block_start"}
    deltas: dict[int, list[Any]] = {}
    for event in events:
        if event.type == "content_block_delta":
            deltas.setdefault(event.index, []).append(event.delta)
    call = starts[1]
    assert call.type == "server_tool_use" and call.input == {}
    assert [d.type for d in deltas[1]] == ["input_json_delta"] * len(deltas[1]) and deltas[1][0].partial_json == ""
    assert "".join(d.partial_json for d in deltas[1]) == '{"query": "Claude Shannon"}'
    assert starts[2].type == "web_search_tool_result" and 2 not in deltas  # whole, in its start
    assert starts[2] == folded.content[2]
    cited = next(i for i, b in enumerate(folded.content) if isinstance(b, TextBlock) and b.citations)
    assert starts[cited].citations == [] and starts[cited].text == ""
    kinds = [d.type for d in deltas[cited]]
    assert kinds[0] == "citations_delta" and set(kinds[kinds.index("text_delta") :]) == {"text_delta"}
    last = next(e for e in events if e.type == "message_delta")
    assert last.usage.server_tool_use.web_search_requests == 1 and last.delta.stop_reason == "end_turn"


def test_each_quoted_phrase_is_a_search_and_max_uses_holds() -> None:
    request = ask('Search for "Claude Shannon", "sourdough" and "eiffel tower"', {**SEARCH, "max_uses": 2})
    message, folded, _ = run(lambda c: both(c, request))
    same(message, folded)
    calls = [b for b in message.content if b.type == "server_tool_use"]
    assert [c.input["query"] for c in calls] == ["Claude Shannon", "sourdough", "eiffel tower"]
    results = [b for b in message.content if b.type == "web_search_tool_result"]
    assert [r.tool_use_id for r in results] == [c.id for c in calls]
    assert isinstance(results[0].content, list) and isinstance(results[1].content, list)
    assert results[2].content.type == "web_search_tool_result_error"
    assert results[2].content.error_code == "max_uses_exceeded"
    assert message.usage.server_tool_use.web_search_requests == 2  # the refused call is no search
    assert len(citations(message)) == 3  # first results first: Shannon, sourdough, then Shannon again


@pytest.mark.parametrize("max_tokens", [5, 20, 40])
def test_max_tokens_ends_a_server_tool_turn(max_tokens: int) -> None:
    request = ask("Search the web for Claude Shannon", SEARCH, max_tokens=max_tokens)
    message, folded, _ = run(lambda c: both(c, request))
    same(message, folded)
    assert (message.stop_reason, message.usage.output_tokens) == ("max_tokens", max_tokens)
    assert types(message)[-1] != "server_tool_use"  # never a call without its result


def test_no_search_without_a_reason_or_with_tool_choice_none() -> None:
    plain = run(lambda c: c.messages.create(**ask("Tell me about tide pools", SEARCH)))
    assert types(plain) == ["text"] and plain.usage.server_tool_use is None
    request = ask("Search the web for Claude Shannon", SEARCH, tool_choice={"type": "none"})
    refrained = run(lambda c: c.messages.create(**request))
    assert types(refrained) == ["text"] and refrained.usage.server_tool_use is None


def test_a_forced_search_searches_anyway() -> None:
    request = ask("Tide pools", SEARCH, tool_choice={"type": "tool", "name": "web_search"})
    message = run(lambda c: c.messages.create(**request))
    assert types(message)[1:3] == ["server_tool_use", "web_search_tool_result"]
    assert message.content[1].input == {"query": "Tide pools"}


def test_with_an_output_format_the_answer_after_the_search_is_its_json() -> None:
    class Born(pydantic.BaseModel):
        name: str
        year: int

    request = ask("Search the web for Claude Shannon", SEARCH)
    parsed = run(lambda c: c.messages.parse(**request, output_format=Born))
    assert types(parsed) == ["server_tool_use", "web_search_tool_result", "text"]
    assert isinstance(parsed.parsed_output, Born) and parsed.usage.server_tool_use.web_search_requests == 1


# --------------------------------------------------------------------------
# The corpus in the rules file
# --------------------------------------------------------------------------


def test_the_rules_file_gives_the_corpus() -> None:
    request = ask("Search for dateline", SEARCH)
    message = run(lambda c: c.messages.create(**request), rules={"rules": [], "web": CORPUS})
    result = message.content[2]
    assert [(r.url, r.title, r.page_age) for r in result.content] == [
        ("https://docs.example.com/dateline", "Dateline docs", None),
        ("https://blog.example.com/dateline", "Why Dateline", "May 1, 2026"),
    ]
    assert [c.cited_text for c in citations(message)] == ["Dateline emulates the API.", "Tests run offline."]
    # The built-in corpus still answers what the rules file does not; without the section it alone does.
    shannon = run(lambda c: c.messages.create(**ask("Search for Claude Shannon", SEARCH)), rules={"web": CORPUS})
    assert shannon.content[2].content[0].url == SHANNON
    builtin = run(lambda c: c.messages.create(**request))
    assert builtin.content[2].content[0].url != "https://docs.example.com/dateline"


def test_a_corpus_loaded_later_is_read_not_a_remembered_answer() -> None:
    async def go(client: anthropic.AsyncAnthropic) -> tuple[Message, Message]:
        request = ask("Search for dateline", SEARCH)
        before = await client.messages.create(**request)
        app = client._client._transport.app  # type: ignore[attr-defined]
        app.state.dateline.scripter.load(script.parse({"web": CORPUS}))
        return before, await client.messages.create(**request)

    before, after = run(go)
    assert before.content[2].content[0].url != after.content[2].content[0].url == "https://docs.example.com/dateline"


@pytest.mark.parametrize(
    "code", ["invalid_tool_input", "unavailable", "too_many_requests", "query_too_long", "request_too_large"]
)
def test_a_corpus_rule_answers_with_an_error_code(code: str) -> None:
    corpus = {"search": [{"query": "(?i)outage", "error": code}]}
    message, folded, _ = run(lambda c: both(c, ask("Search the news for the outage", SEARCH)), rules={"web": corpus})
    same(message, folded)
    error = message.content[2].content
    assert (error.type, error.error_code) == ("web_search_tool_result_error", code)
    assert message.usage.server_tool_use.web_search_requests == 0
    assert code in message.content[-1].text and not citations(message)


def test_a_quoted_query_over_the_limit_is_too_long() -> None:
    long = " ".join(["word"] * 51)
    message = run(lambda c: c.messages.create(**ask(f'Search for "{long}"', SEARCH)))
    assert message.content[2].content.error_code == "query_too_long"


def test_domain_filters_and_location() -> None:
    search = {
        **SEARCH,
        "allowed_domains": ["news.example.com"],
        "user_location": {"type": "approximate", "city": "Oslo"},
    }
    message = run(lambda c: c.messages.create(**ask("Search for Claude Shannon", search)))
    assert [r.url for r in message.content[2].content] == ["https://news.example.com/science/2016/04/shannon-centenary"]

    both_lists = {**SEARCH, "allowed_domains": ["a.example.com"], "blocked_domains": ["b.example.com"]}
    with pytest.raises(anthropic.BadRequestError) as refused:
        run(lambda c: c.messages.create(**ask("Search for Claude Shannon", both_lists)))
    assert refused.value.body["error"]["message"] == (
        "tools.0.web_search_20250305: Only one of allowed_domains or blocked_domains may be set."
    )


# --------------------------------------------------------------------------
# Web fetch
# --------------------------------------------------------------------------


def test_web_fetch_with_citations() -> None:
    request = ask(f"What does {SHANNON} say about Boolean algebra?", FETCH)
    message, folded, _ = run(lambda c: both(c, request))
    same(message, folded)
    assert types(message)[:3] == ["text", "server_tool_use", "web_fetch_tool_result"]
    assert message.content[1].input == {"url": SHANNON}
    result = message.content[2]
    assert isinstance(result, WebFetchToolResultBlock) and result.content.type == "web_fetch_result"
    document = result.content.content
    assert (document.type, document.source.type, document.title) == (
        "document",
        "text",
        "Claude Shannon - Encyclopedia",
    )
    assert document.citations.enabled is True and result.content.retrieved_at
    (citation,) = citations(message)
    assert isinstance(citation, CitationCharLocation) and citation.file_id is None and citation.document_index == 0
    assert document.source.data[citation.start_char_index : citation.end_char_index] == citation.cited_text
    assert "Boolean algebra" in citation.cited_text
    assert message.usage.server_tool_use.web_fetch_requests == 1


def test_web_fetch_without_citations_and_its_errors() -> None:
    urls = f"{SHANNON} https://blog.example.com/private https://nowhere.example.com/page"
    fetch = {"type": "web_fetch_20260209", "name": "web_fetch"}
    message = run(lambda c: c.messages.create(**ask(f"Read {urls}", fetch)), rules={"web": CORPUS})
    results = [b for b in message.content if b.type == "web_fetch_tool_result"]
    assert results[0].content.content.citations.enabled is False and not citations(message)
    assert [r.content.error_code for r in results[1:]] == ["url_not_accessible", "url_not_accessible"]
    assert message.usage.server_tool_use.web_fetch_requests == 3  # failed fetches count


def test_web_fetch_of_a_pdf_and_of_a_domain_not_allowed() -> None:
    pdf = {
        "pages": {
            "https://docs.example.com/deck.pdf": {"title": "Deck", "media_type": "application/pdf", "data": "JVBERi0x"}
        }
    }
    fetch = {**FETCH, "allowed_domains": ["docs.example.com"]}
    request = ask("Read https://docs.example.com/deck.pdf and https://other.example.com/page", fetch)
    message, folded, _ = run(lambda c: both(c, request), rules={"web": pdf})
    same(message, folded)
    deck, other = [b.content for b in message.content if b.type == "web_fetch_tool_result"]
    source = deck.content.source
    assert (source.type, source.media_type, source.data, deck.content.title) == (
        "base64",
        "application/pdf",
        "JVBERi0x",
        "Deck",
    )
    assert other.error_code == "url_not_allowed"
    assert message.usage.server_tool_use.web_fetch_requests == 2


def test_fetch_takes_only_urls_already_in_the_conversation() -> None:
    fetch = {**FETCH, "url_sources": {"user_input": {"type": "none"}}}
    message = run(lambda c: c.messages.create(**ask(f"Read {SHANNON}", fetch)))
    assert message.content[2].content.error_code == "url_not_in_prior_context"


def test_search_then_fetch_the_first_result() -> None:
    request = ask("Search for Claude Shannon and read the top result", SEARCH, FETCH)
    message, folded, _ = run(lambda c: both(c, request))
    same(message, folded)
    assert types(message)[1:5] == [
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_fetch_tool_result",
    ]
    assert message.content[3].input == {"url": message.content[2].content[0].url}
    assert message.content[4].content.type == "web_fetch_result"
    assert message.usage.server_tool_use.model_dump() == {"web_search_requests": 1, "web_fetch_requests": 1}
    kinds = {type(c) for c in citations(message)}
    assert kinds == {CitationsWebSearchResultLocation, CitationCharLocation}


# --------------------------------------------------------------------------
# Tool search
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("searcher", "query"),
    [
        ({"type": "tool_search_tool_bm25_20251119", "name": "tool_search_tool_bm25"}, "stock price acme"),
        ({"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}, "(?i)stock|price|acme"),
    ],
)
def test_tool_search_then_a_call_of_a_tool_it_found(searcher: dict[str, Any], query: str) -> None:
    tools = [searcher, WEATHER, STOCKS, ECHO]
    request = ask("What is the stock price of ACME?", *tools)

    async def go(client: anthropic.AsyncAnthropic) -> tuple[Message, Message, Message]:
        message, folded, _ = await both(client, request)
        call = message.content[-1]
        answer = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "42.00"}]}
        history = [*request["messages"], {"role": "assistant", "content": message.content}, answer]
        return message, folded, await client.messages.create(**{**request, "messages": history})

    message, folded, after = run(go)
    same(message, folded)
    assert types(message) == ["text", "server_tool_use", "tool_search_tool_result", "text", "tool_use"]
    assert message.content[1].input == {"query": query}
    result = message.content[2]
    assert isinstance(result, ToolSearchToolResultBlock)
    assert [r.tool_name for r in result.content.tool_references] == ["get_stock_price"]
    call = message.content[4]
    assert isinstance(call, ToolUseBlock) and call.name == "get_stock_price" and isinstance(call.input["ticker"], str)
    assert message.stop_reason == "tool_use"
    assert message.usage.server_tool_use.model_dump() == {"web_search_requests": 0, "web_fetch_requests": 0}
    assert after.stop_reason == "end_turn" and types(after) == ["text"]


def test_no_tool_search_when_nothing_deferred_is_asked_for() -> None:
    tools = [{"type": "tool_search_tool_bm25", "name": "tool_search_tool_bm25"}, WEATHER, ECHO]
    message = run(lambda c: c.messages.create(**ask("Tell me about tide pools", *tools)))
    assert types(message) == ["text"] and message.usage.server_tool_use is None


def test_tool_search_rules() -> None:
    searcher = {"type": "tool_search_tool_bm25", "name": "tool_search_tool_bm25"}
    with pytest.raises(anthropic.BadRequestError) as refused:
        run(lambda c: c.messages.create(**ask("Weather in Oslo?", WEATHER)))
    assert refused.value.body["error"]["message"] == (
        "All tools have defer_loading set. At least one tool must be non-deferred."
    )
    reference = {"type": "tool_reference", "tool_name": "nowhere"}
    history = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_01",
                    "name": "tool_search_tool_bm25",
                    "input": {"query": "w"},
                },
                {
                    "type": "tool_search_tool_result",
                    "tool_use_id": "srvtoolu_01",
                    "content": {"type": "tool_search_tool_search_result", "tool_references": [reference]},
                },
            ],
        },
        {"role": "user", "content": "And now?"},
    ]
    request = {**ask("", searcher, WEATHER, ECHO), "messages": history}
    with pytest.raises(anthropic.BadRequestError) as refused:
        run(lambda c: c.messages.create(**request))
    assert refused.value.body["error"]["message"] == "Tool reference 'nowhere' has no corresponding tool definition"


# --------------------------------------------------------------------------
# pause_turn
# --------------------------------------------------------------------------


def test_pause_turn_and_the_resume() -> None:
    phrases = [f"topic {i}" for i in range(12)]
    request = ask("Search for " + ", ".join(f'"{p}"' for p in phrases), SEARCH)

    async def go(client: anthropic.AsyncAnthropic) -> tuple[Message, Message, Message, Message]:
        paused, folded, _ = await both(client, request)
        history = [*request["messages"], {"role": "assistant", "content": paused.content}]
        resumed, resumed_folded, _ = await both(client, {**request, "messages": history})
        return paused, folded, resumed, resumed_folded

    paused, folded, resumed, resumed_folded = run(go)
    same(paused, folded)
    same(resumed, resumed_folded)
    assert paused.stop_reason == "pause_turn"
    assert types(paused)[-1] == "web_search_tool_result"  # the pause follows a whole result
    assert [b.input["query"] for b in paused.content if b.type == "server_tool_use"] == phrases[:10]
    assert paused.usage.server_tool_use.web_search_requests == 10
    assert resumed.stop_reason == "end_turn"
    assert [b.input["query"] for b in resumed.content if b.type == "server_tool_use"] == phrases[10:]
    assert resumed.usage.server_tool_use.web_search_requests == 2
    assert len(citations(resumed)) == 3  # citing the pages the paused answer found too


def test_a_resume_begins_with_the_result_of_the_call_it_ended_on() -> None:
    phrases = [f"topic {i}" for i in range(12)]
    request = ask("Search for " + ", ".join(f'"{p}"' for p in phrases), SEARCH)

    async def go(client: anthropic.AsyncAnthropic) -> tuple[list[Any], Message]:
        paused = await client.messages.create(**request)
        content = paused.content[:-1]  # ends on the tenth call, unrun
        history = [*request["messages"], {"role": "assistant", "content": content}]
        return content, await client.messages.create(**{**request, "messages": history})

    content, resumed = run(go)
    assert resumed.content[0].type == "web_search_tool_result" and resumed.content[0].tool_use_id == content[-1].id
    assert [b.input["query"] for b in resumed.content if b.type == "server_tool_use"] == phrases[10:]
    assert resumed.usage.server_tool_use.web_search_requests == 3


def test_a_resume_without_the_tool_is_refused() -> None:
    call = {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_fetch", "input": {"url": SHANNON}}
    request = ask("x", SEARCH)
    request["messages"] = [{"role": "user", "content": f"Read {SHANNON}"}, {"role": "assistant", "content": [call]}]
    with pytest.raises(anthropic.BadRequestError) as refused:
        run(lambda c: c.messages.create(**request))
    assert refused.value.body["error"]["message"].endswith("but no `web_fetch` tool was provided")


def test_a_resumed_tool_search_with_a_bad_pattern_answers_with_its_error() -> None:
    searcher = {"type": "tool_search_tool_regex", "name": "tool_search_tool_regex"}
    call = {"type": "server_tool_use", "id": "srvtoolu_01", "name": "tool_search_tool_regex", "input": {"query": "(a"}}
    request = ask("x", searcher, WEATHER, ECHO)
    request["messages"] = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": [call]}]
    message = run(lambda c: c.messages.create(**request))
    error = message.content[0].content
    assert (message.content[0].tool_use_id, error.type) == ("srvtoolu_01", "tool_search_tool_result_error")
    assert error.error_code == "invalid_tool_input"
    assert error.error_message == "invalid or unsupported regular expression pattern"


def test_a_server_call_left_beside_client_calls_is_answered_first() -> None:
    weather = {k: v for k, v in WEATHER.items() if k != "defer_loading"}
    server = {
        "type": "server_tool_use",
        "id": "srvtoolu_01",
        "name": "web_search",
        "input": {"query": "Claude Shannon"},
    }
    client_call = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}
    request = ask("x", SEARCH, weather)
    request["messages"] = [
        {"role": "user", "content": "Search for Claude Shannon and get the weather in Oslo"},
        {"role": "assistant", "content": [server, client_call]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "Sunny"}]},
    ]
    message = run(lambda c: c.messages.create(**request))
    assert types(message)[0] == "web_search_tool_result" and message.content[0].tool_use_id == "srvtoolu_01"
    assert types(message)[-1] == "text" and message.usage.server_tool_use.web_search_requests == 1


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool",
    [
        *(
            {"type": f"code_execution_{day}", "name": "code_execution"}
            for day in (20250522, 20250825, 20260120, 20260521)
        ),
        {"type": "advisor_20260301", "name": "advisor", "model": "claude-opus-4-6"},
    ],
)
def test_a_server_tool_dateline_cannot_run_is_refused(tool: dict[str, Any]) -> None:
    kind = tool["type"]
    request = ask("Run print(1)", tool)
    with pytest.raises(anthropic.BadRequestError) as refused:
        run(lambda c: c.messages.create(**request))
    error = refused.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"tools.0.{kind}: `{kind}` is a server tool Dateline does not emulate")
    # Counting the request's tokens does not run it.
    counted = run(lambda c: c.messages.count_tokens(**{k: v for k, v in request.items() if k != "max_tokens"}))
    assert counted.input_tokens > 0


@pytest.mark.parametrize(
    "tool",
    [
        SEARCH,
        FETCH,
        {"type": "tool_search_tool_regex", "name": "tool_search_tool_regex"},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ],
)
def test_the_openai_backend_refuses_every_server_tool(tool: dict[str, Any]) -> None:
    upstream = Upstream(name="nowhere", kind="openai", base_url="http://127.0.0.1:9/v1")
    backend = OpenAIBackend(Pool([Target(upstream, "some-model")]), Clients(), Signer(KEY))
    request = ask("Search the web for Claude Shannon", tool, ECHO)
    for call in ("create", "count_tokens"):
        body = request if call == "create" else {k: v for k, v in request.items() if k != "max_tokens"}
        with pytest.raises(anthropic.BadRequestError) as refused:
            run(lambda c: getattr(c.messages, call)(**body), backend=backend)
        assert refused.value.body["error"]["message"].startswith(
            f"tools.0.{tool['type']}: `{tool['type']}` is a server tool, and this model is served by an "
            "OpenAI-compatible upstream, which cannot run it"
        )


def test_derived_keys_are_the_signing_keys_own() -> None:
    signer = Signer(KEY)
    assert signer.derive(b"web") == Signer(KEY).derive(b"web") != signer.derive(b"other")
    assert signer.derive(b"web") != Signer("another key").derive(b"web")
    assert web_corpus.serving() is None  # outside a request: the built-in corpus


def test_a_paused_turn_goes_on_on_a_model_that_refuses_prefill() -> None:
    request = {
        **ask("Search for " + ", ".join(f'"topic {i}"' for i in range(11)), SEARCH),
        "model": "claude-sonnet-4-6",
    }

    async def go(client: anthropic.AsyncAnthropic) -> Message:
        paused = await client.messages.create(**request)
        assert paused.stop_reason == "pause_turn"
        history = [*request["messages"], {"role": "assistant", "content": paused.content}]
        return await client.messages.create(**{**request, "messages": history})

    assert run(go).stop_reason == "end_turn"
