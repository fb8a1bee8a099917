"""Reading request content: the string shorthand, and the text a block carries."""

from __future__ import annotations

from typing import Any, Iterable

import orjson

Block = dict[str, Any]


def blocks(content: str | list[Block] | None) -> list[Block]:
    """A message's content as blocks; a string is one text block."""
    if content is None:
        return []
    if type(content) is str:
        return [{"type": "text", "text": content}]
    return content  # type: ignore[return-value]


def block_text(block: Block) -> str:
    """The text a block contributes to the conversation (for tokens and prose)."""
    kind = block.get("type")
    if kind == "text":
        return block.get("text") or ""
    if kind == "thinking":
        return block.get("thinking") or ""
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return f"{block.get('name', '')} {orjson.dumps(block.get('input') or {}).decode()}"
    if kind == "tool_result" or kind == "mcp_tool_result":
        content = block.get("content")
        return content_text(content) if content is not None else ""
    if kind == "search_result":
        return f"{block.get('title', '')}\n{content_text(block.get('content'))}"
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return source.get("data") or ""
        if source.get("type") == "content":
            return content_text(source.get("content"))
        return ""
    if kind == "mid_conv_system":
        return content_text(block.get("content"))
    return ""


def content_text(content: str | list[Block] | None) -> str:
    if content is None:
        return ""
    if type(content) is str:
        return content
    return "\n".join(t for b in content if (t := block_text(b)))


def system_text(system: str | list[Block] | None) -> str:
    return content_text(system)


def iter_blocks(messages: Iterable[dict[str, Any]]) -> Iterable[tuple[int, int, Block]]:
    for i, message in enumerate(messages):
        for j, block in enumerate(blocks(message.get("content"))):
            yield i, j, block
