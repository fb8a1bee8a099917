"""What the built-in model answers, asked over real HTTP: the same request gets
the same reply, different prompts different ones, plausible prose on the
prompt's topic, a continued prefill, and replies cut by ``max_tokens`` and
``stop_sequences`` exactly where the API says (streamed or not).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from messages_wire import (
    PNG,
    PROMPT,
    assistant,
    body,
    fold,
    ok,
    raw,
    raw_stream,
    text_of,
    user,
    without_id,
)


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    """As conftest's ``http`` (x-api-key, 2023-06-01), built once."""
    with raw(base_url) as plain:
        yield plain


# --------------------------------------------------------------------------
# The reply
# --------------------------------------------------------------------------


def test_same_request_same_answer(http: httpx.Client) -> None:
    first, second = ok(http, body()), ok(http, body())
    assert first["id"] != second["id"]
    assert first["content"] == second["content"]
    assert first["usage"] == second["usage"]
    assert first["stop_reason"] == second["stop_reason"] == "end_turn"


def test_different_prompts_different_answers(http: httpx.Client) -> None:
    prompts = [PROMPT, "How do volcanoes erupt?", "Explain photosynthesis in plants", "What makes bread rise?"]
    texts = [text_of(ok(http, body(user(p)))) for p in prompts]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize(
    "prompt, salient",
    [
        (PROMPT, "tide"),
        ("How do volcanoes erupt?", "volcanoes"),
        ("Explain photosynthesis in plants", "photosynthesis"),
        ("What are context and detail?", "context"),  # the words the model also falls back on
        ("context detail", "context"),
    ],
)
def test_reply_is_plausible(http: httpx.Client, prompt: str, salient: str) -> None:
    message = ok(http, body(user(prompt)))
    text = text_of(message)
    assert message["stop_reason"] == "end_turn"
    assert 10 < message["usage"]["output_tokens"] < 200
    assert len(re.findall(r"[.!?](\s|$)", text)) >= 3
    assert salient in text.lower()
    assert "{" not in text and "}" not in text


def test_asking_for_an_essay_gives_a_longer_reply(http: httpx.Client) -> None:
    short = ok(http, body(user("Tell me about glaciers"), max_tokens=4000))
    long = ok(http, body(user("Write a detailed essay about glaciers"), max_tokens=4000))
    assert long["usage"]["output_tokens"] > 3 * short["usage"]["output_tokens"]
    assert long["stop_reason"] == "end_turn" and "glaciers" in text_of(long)


def test_system_prompt_alone_gives_the_topic(http: httpx.Client) -> None:
    message = ok(http, body(user([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]), system="Questions about lighthouses"))
    assert "lighthouses" in text_of(message)


def test_prefill_continues(http: httpx.Client) -> None:
    message = ok(http, body(user(PROMPT), assistant("Sure")))
    text = text_of(message)
    assert message["stop_reason"] == "end_turn"
    assert text.startswith(" ") and not text.startswith("  ")  # continues "Sure"
    assert "tide pools" in text
    events = raw_stream(http, body(user(PROMPT), assistant("Sure")))
    assert without_id(fold(events)) == without_id(message)


# --------------------------------------------------------------------------
# max_tokens
# --------------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens", [1, 5, 17])
@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_cuts_the_reply(http: httpx.Client, max_tokens: int, stream: bool) -> None:
    request = body(max_tokens=max_tokens)
    message = fold(raw_stream(http, request)) if stream else ok(http, request)
    assert message["stop_reason"] == "max_tokens" and message["stop_sequence"] is None
    assert message["usage"]["output_tokens"] == max_tokens
    full = text_of(ok(http, body()))
    assert full.startswith(text_of(message)) and len(text_of(message)) < len(full)


def test_max_tokens_zero(http: httpx.Client) -> None:
    message = ok(http, body(max_tokens=0))
    assert message["content"] == [] and message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 0


# --------------------------------------------------------------------------
# stop_sequences
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequence_cuts_before_the_match(http: httpx.Client, stream: bool) -> None:
    full = text_of(ok(http, body()))
    words = full.split()
    stop = words[len(words) // 2]
    request = body(stop_sequences=["zzz-not-there", stop])
    message = fold(raw_stream(http, request)) if stream else ok(http, request)
    assert message["stop_reason"] == "stop_sequence"
    assert message["stop_sequence"] == stop
    assert text_of(message) == full[: full.index(stop)]
    assert 0 < message["usage"]["output_tokens"] < ok(http, body())["usage"]["output_tokens"]


def test_earliest_stop_sequence_wins(http: httpx.Client) -> None:
    full = text_of(ok(http, body()))
    words = full.split()
    early, late = words[2], words[-2]
    message = ok(http, body(stop_sequences=[late, early]))
    assert message["stop_sequence"] == early
    assert text_of(message) == full[: full.index(early)]


def test_stop_sequence_not_in_reply(http: httpx.Client) -> None:
    message = ok(http, body(stop_sequences=["\n\nHuman:"]))
    assert message["stop_reason"] == "end_turn" and message["stop_sequence"] is None


def test_max_tokens_before_the_stop_sequence(http: httpx.Client) -> None:
    full = text_of(ok(http, body()))
    stop = full.split()[-2]
    message = ok(http, body(max_tokens=3, stop_sequences=[stop]))
    assert message["stop_reason"] == "max_tokens" and message["stop_sequence"] is None
