"""The one tokenizer: splitting loses nothing, and every count comes from it."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dateline import tokenizer


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Hello world", ["Hello", " world"]),
        ("Hello, world!", ["Hello", ",", " world", "!"]),
        ("1234567", ["123", "456", "7"]),
        ("in 2024", ["in", " 202", "4"]),
        ("extraordinarily", ["extraordin", "arily"]),
        ("a\n\nb", ["a", "\n\n", "b"]),
        ("a \n  b", ["a", " \n", "  ", "b"]),
        ("a   b", ["a", "   ", "b"]),
        ("snake_case", ["snake", "_", "case"]),
        ("end  ", ["end", "  "]),
        ("café naïve", ["café", " naïve"]),
        ("日本語", ["日本語"]),
        ("🙂🙂", ["🙂", "🙂"]),
        ("", []),
    ],
)
def test_split(text: str, tokens: list[str]) -> None:
    assert tokenizer.split(text) == tokens
    assert tokenizer.count(text) == len(tokens)


def test_about_four_characters_a_token() -> None:
    english = "The quick brown fox jumps over the lazy dog while the sun sets slowly behind the hills. " * 10
    ratio = len(english) / tokenizer.count(english)
    assert 3.5 < ratio < 6


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_split_joins_back(text: str) -> None:
    tokens = tokenizer.split(text)
    assert "".join(tokens) == text
    assert all(tokens)  # no empty token
    assert tokenizer.count(text) == len(tokens)


@settings(max_examples=20, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=2049, max_size=3000))
def test_long_texts_count_the_same_way(text: str) -> None:
    tokens = tokenizer.split(text)
    assert "".join(tokens) == text
    assert tokenizer.count(text) == len(tokens)


@settings(max_examples=100, deadline=None)
@given(st.text(), st.text())
def test_counts_are_roughly_additive(a: str, b: str) -> None:
    # Concatenation can merge at most a couple of tokens at the seam.
    assert tokenizer.count(a + b) <= tokenizer.count(a) + tokenizer.count(b)
    assert tokenizer.count(a + b) >= tokenizer.count(a) + tokenizer.count(b) - 2


def test_prefix_of_tokens_is_a_prefix_of_text() -> None:
    text = "Tide pools are rocky, shallow pools; 1234 creatures live there."
    tokens = tokenizer.split(text)
    for n in range(len(tokens) + 1):
        assert text.startswith("".join(tokens[:n]))


# --------------------------------------------------------------------------
# count_request
# --------------------------------------------------------------------------

BASE = {"model": "m", "messages": [{"role": "user", "content": "Hello there"}]}


def test_request_overheads() -> None:
    # 3 for the request, 4 per message, then the text
    assert tokenizer.count_request(BASE) == 3 + 4 + 2
    two = {**BASE, "messages": [*BASE["messages"], {"role": "assistant", "content": "Hi"}]}
    assert tokenizer.count_request(two) == 3 + 4 + 2 + 4 + 1


def test_string_and_block_content_cost_the_same() -> None:
    blocks = {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]}
    assert tokenizer.count_request(blocks) == tokenizer.count_request(BASE)


def test_system_string_and_blocks() -> None:
    as_string = {**BASE, "system": "Be brief."}
    as_blocks = {**BASE, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}
    assert tokenizer.count_request(as_string) == tokenizer.count_request(BASE) + tokenizer.count("Be brief.")
    assert tokenizer.count_request(as_blocks) == tokenizer.count_request(as_string)
    two = {**BASE, "system": [{"type": "text", "text": "Be"}, {"type": "text", "text": "brief."}]}
    assert tokenizer.count_request(two) == tokenizer.count_request(BASE) + tokenizer.count("Be\nbrief.")


def test_tools_cost_their_definition() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"name": "get_weather", "description": "Weather now.", "input_schema": schema}
    expected = 12 + tokenizer.count("get_weather") + tokenizer.count("Weather now.") + tokenizer.count(orjson.dumps(schema).decode())
    assert tokenizer.count_request({**BASE, "tools": [tool]}) == tokenizer.count_request(BASE) + expected
    server = {"type": "web_search_20250305", "name": "web_search"}
    assert tokenizer.count_request({**BASE, "tools": [server]}) == tokenizer.count_request(BASE) + 12 + tokenizer.count("web_search")


def _image(data: str | None = None) -> dict:
    if data is None:
        return {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def _with(*blocks: dict) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": list(blocks)}]}


@pytest.mark.parametrize(
    "data_len, tokens",
    [(100, 85), (4 * 120 * 85 // 3, 85), (4 * 120 * 1000 // 3, 1000), (10_000_000, 1600)],
)
def test_images_priced_by_size(data_len: int, tokens: int) -> None:
    assert tokenizer.count_request(_with(_image("A" * data_len))) == 3 + 4 + tokens


def test_url_image_and_documents() -> None:
    assert tokenizer.count_request(_with(_image())) == 3 + 4 + 85
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "A" * 40_000}}
    assert tokenizer.count_request(_with(pdf)) == 3 + 4 + 30_000 // 40
    tiny_pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "AAAA"}}
    assert tokenizer.count_request(_with(tiny_pdf)) == 3 + 4 + 85
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Kelp grows fast."}}
    assert tokenizer.count_request(_with(text_doc)) == 3 + 4 + tokenizer.count("Kelp grows fast.")
    url_doc = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    assert tokenizer.count_request(_with(url_doc)) == 3 + 4


def test_tool_blocks_and_thinking() -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}, _image()]}
    thinking = {"type": "thinking", "thinking": "Let me think.", "signature": "sig"}
    assert tokenizer.count_request(_with(use)) == 3 + 4 + tokenizer.count('get_weather {"city":"Paris"}')
    assert tokenizer.count_request(_with(result)) == 3 + 4 + tokenizer.count("sunny")
    assert tokenizer.count_request(_with(thinking)) == 3 + 4 + tokenizer.count("Let me think.")
    assert tokenizer.count_request(_with({"type": "redacted_thinking", "data": "xyz"})) == 3 + 4


def test_system_role_messages_count() -> None:
    request = {**BASE, "messages": [*BASE["messages"], {"role": "system", "content": "Be brief."}, {"role": "system"}]}
    assert tokenizer.count_request(request) == tokenizer.count_request(BASE) + 4 + tokenizer.count("Be brief.") + 4


def test_empty_request() -> None:
    assert tokenizer.count_request({"model": "m", "messages": []}) == 3
