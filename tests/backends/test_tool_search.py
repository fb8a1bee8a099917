"""Tool search over deferred tools: regex and BM25, deterministic, with the API's 400s and the
result blocks checked against the official SDK's types."""

from __future__ import annotations

import random
import time
import typing

import anthropic.types as sdk
import pytest

from dateline import errors
from dateline.backends import _tool_search as ts
from dateline.backends._server_tools import ToolError, server_tool_use


def tool(name: str, description: str = "", params: dict | None = None, *, deferred: bool = True) -> dict:
    schema = {"type": "object", "properties": params or {}}
    return {"name": name, "description": description, "input_schema": schema, "defer_loading": deferred}


SEARCHER = {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}
CATALOG = [
    SEARCHER,
    tool(
        "get_weather",
        "Get the current weather at a location",
        {"location": {"type": "string", "description": "City name"}},
    ),
    tool(
        "search_files",
        "Search through files in the workspace",
        {"query": {"type": "string"}, "file_types": {"type": "array"}},
    ),
    tool(
        "sendSlackMessage", "Post a message to a Slack channel", {"channel": {"type": "string", "description": "#name"}}
    ),
    tool(
        "create_invoice",
        "Bill a customer",
        {"customer": {"type": "object", "properties": {"vat_number": {"type": "string", "description": "EU tax id"}}}},
    ),
    tool("list_forecasts", "Weather forecasts for the next ten days", deferred=False),  # loaded: never searched
    {"type": "web_search_20250305", "name": "web_search", "defer_loading": True},
]


def regex(query: str, **extra: object) -> list[str]:
    return ts.search_tools(CATALOG, "regex", {"query": query, **extra})


def bm25(query: str, tools: list[dict] = CATALOG, **extra: object) -> list[str]:
    return ts.search_tools(tools, "bm25", {"query": query, **extra})


def test_the_tool_types_are_the_sdks() -> None:
    sdk_types = set()
    for param in (sdk.ToolSearchToolRegex20251119Param, sdk.ToolSearchToolBm25_20251119Param):
        sdk_types |= set(typing.get_args(typing.get_type_hints(param)["type"]))
    assert sdk_types == set(ts.TOOL_SEARCH_TYPES)
    assert {ts.TOOL_SEARCH_TYPES[t] for t in sdk_types} == {"regex", "bm25"}


# --- regex ---------------------------------------------------------------------------------------


def test_regex_searches_names_descriptions_and_parameters() -> None:
    assert regex("weather") == ["get_weather"]  # list_forecasts is not deferred
    assert regex("Weather") == []  # case matters, as in Python's re.search
    assert regex("(?i)WEATHER") == ["get_weather"]
    assert regex("workspace") == ["search_files"]  # a description
    assert regex("file_types") == ["search_files"]  # a parameter's name
    assert regex("City name") == ["get_weather"]  # a parameter's description
    assert regex("vat_number|EU tax") == ["create_invoice"]  # nested parameters too
    assert regex("^web_") == ["web_search"]  # a server tool, by its name
    assert regex("^search") == ["search_files"]  # anchors hold per field
    assert regex("zebra") == []


def test_regex_ranks_names_first_then_the_request_order() -> None:
    tools = [SEARCHER, tool("alpha", "talks to slack"), tool("slack_post", "post"), tool("beta", "also slack")]
    assert ts.search_tools(tools, "regex", {"query": "slack"}) == ["slack_post", "alpha", "beta"]


def test_limits() -> None:
    many = [SEARCHER, *(tool(f"tool_{i:02d}", "does things") for i in range(12))]
    assert ts.search_tools(many, "regex", {"query": "tool_"}) == [f"tool_{i:02d}" for i in range(5)]
    assert len(ts.search_tools(many, "regex", {"query": "tool_", "limit": 12})) == 12
    assert ts.search_tools(many, "regex", {"query": "tool_", "limit": 1}) == ["tool_00"]
    for limit in (0, 10_001, True, "5", 2.0):
        with pytest.raises(ToolError) as caught:
            ts.search_tools(many, "regex", {"query": "tool_", "limit": limit})
        assert caught.value.code == "invalid_tool_input" and "limit" in (caught.value.message or "")
    assert ts.search_tools(many, "regex", {"query": "x" * 200}) == []
    for variant, query in (("regex", "x" * 201), ("bm25", "x " * 250 + "y")):
        with pytest.raises(ToolError) as caught:
            ts.search_tools(many, variant, {"query": query})
        assert caught.value.code == "invalid_tool_input" and "exceeds" in (caught.value.message or "")
    assert len(bm25("x " * 250, many)) == 0  # 500 characters are allowed
    for tool_input in ({}, {"query": ""}, {"query": 3}, "weather", None):
        with pytest.raises(ToolError, match="query must be a non-empty string"):
            ts.search_tools(many, "regex", tool_input)


def test_regex_runs_on_re2_or_a_guarded_fallback() -> None:
    assert regex("(?P<verb>get|list)_") == ["get_weather"]
    assert regex("get_(?!user)") == ["get_weather"]  # lookahead: RE2 cannot, Python may
    # A backreference: "ss" in a name first, then "rr" ("current") and "ll" ("Bill") in descriptions.
    assert regex("(\\w)\\1") == ["sendSlackMessage", "get_weather", "create_invoice"]
    for pattern in ("(?=(a+)+)b", "(?<=x)(ab|a)*c", "((?=a)a*)*", "(\\w)\\1.*x.*y", "(unclosed"):
        with pytest.raises(ToolError) as caught:
            regex(pattern)
        assert caught.value.code == "invalid_tool_input"


def test_a_hostile_pattern_takes_linear_time() -> None:
    tools = [SEARCHER, tool("t", "a" * 100_000 + "!")]
    started = time.perf_counter()
    assert ts.search_tools(tools, "regex", {"query": "(a+)+$"}) == []  # RE2: no backtracking
    assert ts.search_tools(tools, "regex", {"query": "(?=a)a*b"}) == []  # Python, on a bounded text
    assert time.perf_counter() - started < 2
    with pytest.raises(ToolError):  # alternation under a repeat: Python would backtrack badly
        ts.search_tools(tools, "regex", {"query": "(?=a)(a|aa)*b"})


# --- BM25 ----------------------------------------------------------------------------------------


def test_bm25_ranks_by_relevance() -> None:
    assert bm25("what's the weather in Paris?") == ["get_weather"]
    assert bm25("send a message on Slack") == ["sendSlackMessage"]  # camelCase split
    assert bm25("find files by type") == ["search_files"]  # file_types split
    assert bm25("vat") == ["create_invoice"]
    assert bm25("the of and") == [] and bm25("zebra") == []
    assert bm25("web search") == ["web_search", "search_files"]  # the name weighs more


def test_bm25_ties_keep_the_request_order_and_repeat() -> None:
    twins = [SEARCHER, *(tool(f"echo_{i}", "repeat the text back") for i in range(8))]
    assert bm25("repeat text", twins) == [f"echo_{i}" for i in range(5)]
    shuffled = [SEARCHER, *random.Random(4).sample(twins[1:], 8)]
    assert bm25("repeat text", shuffled) == [t["name"] for t in shuffled[1:6]]
    assert bm25("what's the weather in Paris?") == bm25("what's the weather in Paris?")


def test_ten_thousand_tools() -> None:
    rng = random.Random(9)
    words = "account alert archive billing calendar channel contact deploy email event file invoice log metric".split()
    tools = [SEARCHER] + [
        tool(f"svc{i}_{rng.choice(words)}", " ".join(rng.choices(words, k=12)), {"id": {"type": "string"}})
        for i in range(ts.MAX_DEFERRED)
    ]
    ts.check_tools(tools)
    started = time.perf_counter()
    found = bm25("send an invoice email", tools, limit=20)
    assert len(found) == 20 and len(regex_many := ts.search_tools(tools, "regex", {"query": "invoice"})) == 5
    assert regex_many[0].endswith("_invoice")
    assert time.perf_counter() - started < 10
    with pytest.raises(errors.InvalidRequestError, match="at most 10,000 tools may set defer_loading"):
        ts.check_tools([*tools, tool("one_more")])


# --- the request's rules and the blocks ----------------------------------------------------------


def test_all_deferred_is_a_400() -> None:
    with pytest.raises(errors.InvalidRequestError) as caught:
        ts.check_tools([tool("a"), tool("b")])
    assert caught.value.message == "All tools have defer_loading set. At least one tool must be non-deferred."
    ts.check_tools(CATALOG)
    ts.check_tools([])


def test_references_must_name_a_tool() -> None:
    found = ts.result_block("srvtoolu_1", ["get_weather"])
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [found]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "tool_reference", "tool_name": "search_files"}],
                }
            ],
        },
    ]
    ts.check_references(messages, CATALOG)
    with pytest.raises(errors.InvalidRequestError) as caught:
        ts.check_references(messages, [t for t in CATALOG if t["name"] != "search_files"])
    assert caught.value.message == "Tool reference 'search_files' has no corresponding tool definition"


def test_the_blocks_validate() -> None:
    call = server_tool_use("tool_search_tool_bm25", {"query": "weather"}, rng=random.Random(2))
    assert sdk.ServerToolUseBlock.model_validate(call).name == "tool_search_tool_bm25"
    block = ts.result_block(call["id"], bm25("weather forecast"))
    parsed = sdk.ToolSearchToolResultBlock.model_validate(block)
    assert [r.tool_name for r in parsed.content.tool_references] == ["get_weather"]  # type: ignore[union-attr]
    assert sdk.ToolSearchToolResultBlock.model_validate(ts.result_block(call["id"], [])).content.tool_references == []  # type: ignore[union-attr]


@pytest.mark.parametrize("code", typing.get_args(sdk.ToolSearchToolResultErrorCode))
def test_every_error_block_validates(code: str) -> None:
    block = ts.error_block("srvtoolu_1", code, "why" if code == "invalid_tool_input" else None)
    parsed = sdk.ToolSearchToolResultBlock.model_validate(block)
    assert parsed.content.error_code == code  # type: ignore[union-attr]


def test_an_error_from_a_search_makes_its_block() -> None:
    with pytest.raises(ToolError) as caught:
        regex("x" * 201)
    block = ts.error_block("srvtoolu_1", caught.value.code, caught.value.message)
    parsed = sdk.ToolSearchToolResultBlock.model_validate(block)
    assert parsed.content.error_message == "pattern exceeds 200 characters"  # type: ignore[union-attr]
