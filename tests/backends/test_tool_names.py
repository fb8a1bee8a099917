"""Which tool the user's text names: the same answer as one regex search per
tool and name form, found in one pass over the text."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from dateline.backends._tool_names import MAX_TEXT, named_tool


def reference(tools: list[dict], text: str) -> dict | None:
    """The definition: the first tool a form of whose name stands on its own in the text."""
    lowered = text.lower()
    for tool in tools:
        name = tool["name"].lower()
        for form in {name, name.replace("_", " "), name.replace("-", " ")}:
            if re.search(r"(?<![\w-])" + re.escape(form) + r"(?![\w-])", lowered):
                return tool
    return None


NAMES = st.text(alphabet="ab_-", min_size=1, max_size=6)
TEXT = st.text(alphabet="aAb_- .,\né1", max_size=24)


@settings(max_examples=3000, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=5, unique=True), text=TEXT)
def test_the_same_answer_as_a_search_per_form(names: list[str], text: str) -> None:
    tools = [{"name": name} for name in names]
    assert named_tool(tools, text) is reference(tools, text)


def test_forms_and_edges() -> None:
    weather, search = {"name": "get_weather"}, {"name": "web-search"}
    tools = [weather, search]
    assert named_tool(tools, "Use get_weather please") is weather
    assert named_tool(tools, "can you get weather in Paris?") is weather
    assert named_tool(tools, "do a web search") is search
    assert named_tool(tools, "GET_WEATHER!") is weather
    assert named_tool(tools, "forget_weather, get_weathers, get-weather") is None
    assert named_tool(tools, "web search, then get weather") is weather  # the first in `tools` wins
    assert named_tool(tools, "") is None and named_tool([], "get_weather") is None


def test_many_tools_and_a_long_text_take_one_pass() -> None:
    tools = [{"name": f"lookup_record_{i}"} for i in range(2_000)]
    text = "please look up record " * 90_000 + "with lookup record 1999"
    started = time.monotonic()
    assert named_tool(tools, text) is tools[1999]
    assert time.monotonic() - started < 5  # a search per form took minutes


def test_only_the_end_of_a_very_long_text_is_read() -> None:
    tool = {"name": "get_weather"}
    assert named_tool([tool], "get_weather " + "x" * MAX_TEXT) is None
    assert named_tool([tool], "x" * MAX_TEXT + " get_weather") is tool
    # The part read starts at `get_weather`, which the text has only inside `xget_weather`.
    assert named_tool([tool], "x" + "get_weather" + " " * (MAX_TEXT - 11)) is None
