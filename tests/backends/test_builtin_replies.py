"""What the built-in model answers, asked over real HTTP: the same request gets
the same reply, different prompts different ones, plausible prose on the
prompt's topic, a continued prefill, and replies cut by ``max_tokens`` and
``stop_sequences`` exactly where the API says (streamed or not).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

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


# --------------------------------------------------------------------------
# The context window
# --------------------------------------------------------------------------

#: claude-haiku-4-5 stops at its context window (the catalog's window_stop) rather than refuse a request.
WINDOW = 200_000


@pytest.fixture(scope="module")
def near_the_window(http: httpx.Client) -> dict[str, Any]:
    """A request to claude-haiku-4-5 whose prompt leaves 20 tokens of its window, with room for more in max_tokens."""
    words = WINDOW - 20
    for _ in range(3):
        request = body(user("tide " * words), max_tokens=1000)
        counted = http.post("/v1/messages/count_tokens", json={"model": request["model"], "messages": request["messages"]})
        over = counted.json()["input_tokens"] - (WINDOW - 20)
        if over == 0:
            return request
        words -= over
    raise AssertionError("no prompt of exactly WINDOW - 20 tokens")


@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_that_would_overflow_the_window_stops_at_it(
    http: httpx.Client, near_the_window: dict[str, Any], stream: bool
) -> None:
    message = fold(raw_stream(http, near_the_window)) if stream else ok(http, near_the_window)
    assert message["stop_reason"] == "model_context_window_exceeded" and message["stop_details"] is None
    assert message["usage"]["input_tokens"] == WINDOW - 20 and message["usage"]["output_tokens"] == 20
    # Cut where max_tokens of the same size would cut it; only the reason differs.
    capped = ok(http, {**near_the_window, "max_tokens": 20})
    assert capped["stop_reason"] == "max_tokens" and text_of(capped) == text_of(message) != ""


def test_max_tokens_below_the_room_left_is_max_tokens(http: httpx.Client, near_the_window: dict[str, Any]) -> None:
    message = ok(http, {**near_the_window, "max_tokens": 5})
    assert message["stop_reason"] == "max_tokens" and message["usage"]["output_tokens"] == 5


def test_the_1m_beta_moves_the_window_of_the_models_it_opens(http: httpx.Client, near_the_window: dict[str, Any]) -> None:
    request = {**near_the_window, "model": "claude-sonnet-4-5"}  # 200K, or 1M with the beta
    assert ok(http, request)["stop_reason"] == "model_context_window_exceeded"
    opened = http.post("/v1/messages", json=request, headers={"anthropic-beta": "context-1m-2025-08-07"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["stop_reason"] == "end_turn" and opened.json()["usage"]["output_tokens"] > 20
