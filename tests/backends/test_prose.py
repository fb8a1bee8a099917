"""The built-in model's prose: salient words in, plausible sentences out."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dateline.backends import _prose


def test_keywords_by_frequency_then_order() -> None:
    assert _prose.keywords("Tell me about tide pools and tide charts") == ["tide", "pools", "charts"]
    assert _prose.keywords("zebra apple zebra mango apple zebra", limit=2) == ["zebra", "apple"]


def test_keywords_skip_stop_words_and_short_words() -> None:
    assert _prose.keywords("Please explain what would make this work? Cat dog.") == ["work"]
    assert _prose.keywords("") == []
    assert _prose.keywords("12345 !!! ???") == []


def test_keywords_are_lowercase() -> None:
    assert _prose.keywords("Volcanoes VOLCANOES volcanoes") == ["volcanoes"]


def test_topic_is_the_run_of_salient_words() -> None:
    assert _prose.topic("Tell me about tide pools today", "tide") == "tide pools today"
    assert _prose.topic("the ocean is big", "ocean") == "ocean"
    assert _prose.topic("one two three four five", "xyz") == "xyz"
    # at most three words, centred on the word
    assert _prose.topic("alpha bravo charlie delta echo foxtrot", "charlie") == "alpha bravo charlie"


def test_reply_mentions_the_topic() -> None:
    text = _prose.reply("Tell me about tide pools", random.Random(1))
    assert "tide pools" in text
    sentences = re.findall(r"[^.!?]+[.!?]", text)
    assert 3 <= len(sentences) <= 5
    assert text[0].isupper() and text.endswith(".")


def test_reply_is_a_function_of_text_and_seed() -> None:
    a = _prose.reply("How do glaciers move?", random.Random(7))
    assert a == _prose.reply("How do glaciers move?", random.Random(7))
    others = {_prose.reply("How do glaciers move?", random.Random(seed)) for seed in range(20)}
    assert len(others) > 5
    assert "glaciers" in a


def test_reply_without_salient_words_falls_back() -> None:
    text = _prose.reply("hi", random.Random(0))
    assert "your message" in text


@pytest.mark.parametrize(
    "text",
    ["context detail", "context", "detail", "What are context and detail?", "examples background context detail practice"],
)
def test_fallback_words_in_the_prompt(text: str) -> None:
    # The fallbacks fill the slots the prompt leaves empty; a prompt made of
    # them must still yield three distinct slots.
    reply = _prose.reply(text, random.Random(3))
    assert "{" not in reply and "}" not in reply
    assert _prose.thinking(text, random.Random(3))


def test_long_replies_when_asked() -> None:
    rng = random.Random(5)
    short = _prose.reply("tide pools", rng)
    for prompt in ("Write an essay on tide pools", "a detailed account of tide pools", "tide pools in 500 words", "Tell a story about tide pools"):
        long = _prose.reply(prompt, random.Random(5))
        assert len(long) > 4 * len(short), prompt
    assert len(_prose.reply("tide pools", random.Random(5), wants_long=True)) > 4 * len(short)
    assert len(_prose.reply("an essay on tide pools", random.Random(5), wants_long=False)) < 3 * len(short) + 200


def test_thinking_reads_like_planning() -> None:
    text = _prose.thinking("Why is the ocean salty?", random.Random(2))
    assert text.startswith("The user is asking about ocean salty.")
    assert text.count(".") == 3


def test_tool_preface_names_the_tool() -> None:
    assert _prose.tool_preface("get_weather") == "I'll use the get_weather tool to help with that."


def test_after_tool_quotes_each_result() -> None:
    text = _prose.after_tool([("get_weather", "18C\n  and   sunny"), ("search", "")], random.Random(0))
    assert "18C and sunny" in text  # whitespace collapsed
    assert "search" in text and "no output" in text
    assert text.endswith(("Based on that, the task is complete.", "That answers the question."))


def test_after_tool_clips_long_output() -> None:
    text = _prose.after_tool([("dump", "x" * 500)], random.Random(0))
    assert "x" * 120 in text and "x" * 121 not in text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=2**32))
def test_reply_never_fails(text: str, seed: int) -> None:
    reply = _prose.reply(text, random.Random(seed))
    assert reply and "{" not in reply and "}" not in reply
    slots = _prose._slots(text)
    assert len({slots["a"], slots["b"], slots["c"]}) == 3
    assert slots["b"] not in slots["a"].split() and slots["c"] not in slots["a"].split()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["context", "detail", "examples", "background", "practice", "tide", "pools", "and"]), max_size=8))
def test_slots_from_fallback_heavy_prompts(words: list[str]) -> None:
    text = " ".join(words)
    slots = _prose._slots(text)
    assert len({slots["a"], slots["b"], slots["c"]}) == 3
    assert _prose.thinking(text, random.Random(0))
