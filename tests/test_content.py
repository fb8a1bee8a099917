"""Reading request content: the string shorthand and the text each block carries."""

from __future__ import annotations

import pytest

from dateline._content import block_text, blocks, content_text, iter_blocks, system_text


def test_blocks_of_a_string_is_one_text_block() -> None:
    assert blocks("hello") == [{"type": "text", "text": "hello"}]
    assert blocks("") == [{"type": "text", "text": ""}]


def test_blocks_of_none_and_lists() -> None:
    assert blocks(None) == []
    assert blocks([]) == []
    content = [{"type": "text", "text": "a"}, {"type": "image", "source": {}}]
    assert blocks(content) is content


@pytest.mark.parametrize(
    "block, text",
    [
        ({"type": "text", "text": "hi"}, "hi"),
        ({"type": "text", "text": None}, ""),
        ({"type": "thinking", "thinking": "hmm", "signature": "s"}, "hmm"),
        ({"type": "redacted_thinking", "data": "opaque"}, ""),
        ({"type": "tool_use", "id": "t", "name": "get_weather", "input": {"city": "Paris"}}, 'get_weather {"city":"Paris"}'),
        ({"type": "tool_use", "id": "t", "name": "noop", "input": {}}, "noop {}"),
        ({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {"query": "kelp"}}, 'web_search {"query":"kelp"}'),
        ({"type": "tool_result", "tool_use_id": "t", "content": "sunny"}, "sunny"),
        ({"type": "tool_result", "tool_use_id": "t"}, ""),
        (
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {}}, {"type": "text", "text": "b"}]},
            "a\nb",
        ),
        ({"type": "search_result", "source": "s", "title": "Kelp", "content": [{"type": "text", "text": "grows"}]}, "Kelp\ngrows"),
        ({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "body"}}, "body"),
        ({"type": "document", "source": {"type": "content", "content": "inline"}}, "inline"),
        ({"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}}, "x\ny"),
        ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}}, ""),
        ({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}, ""),
        ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}, ""),
        ({"type": "mid_conv_system", "content": [{"type": "text", "text": "be brief"}]}, "be brief"),
        ({"type": "container_upload", "file_id": "file_1"}, ""),
        ({}, ""),
    ],
)
def test_block_text(block: dict, text: str) -> None:
    assert block_text(block) == text


def test_content_text_joins_non_empty_parts() -> None:
    assert content_text(None) == ""
    assert content_text("plain") == "plain"
    assert content_text([]) == ""
    content = [{"type": "text", "text": "one"}, {"type": "image", "source": {}}, {"type": "text", "text": "two"}]
    assert content_text(content) == "one\ntwo"


def test_system_text() -> None:
    assert system_text(None) == ""
    assert system_text("Be brief.") == "Be brief."
    assert system_text([{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "B"}]) == "A\nB"


def test_iter_blocks_indexes_like_error_locations() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "system"},
        {"role": "user", "content": []},
    ]
    assert [(i, j, b["text"]) for i, j, b in iter_blocks(messages)] == [(0, 0, "hi"), (1, 0, "a"), (1, 1, "b")]
