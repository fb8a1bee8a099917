"""The one tokenizer behind every token count (usage, count_tokens, max_tokens).

An approximation of a BPE tokenizer, about four characters of English per
token: a word with its leading space is one token, long words are split in
chunks, digits go in threes, and each other symbol is a token of its own.
Splitting never loses text: ``"".join(split(t)) == t``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache

import orjson

from . import _content

_TOKEN = re.compile(r" ?[^\W\d_]{1,10}| ?\d{1,3}|\s*\n|\s+(?=\S)|\s+| ?[^\w\s]|_|.", re.UNICODE | re.DOTALL)


def split(text: str) -> list[str]:
    """The tokens of ``text``, in order; they join back to ``text``."""
    return _TOKEN.findall(text)


def pieces(text: str) -> Iterator[str]:
    """``split(text)`` one token at a time: a long text's first token comes at once."""
    return (match.group() for match in _TOKEN.finditer(text))


@lru_cache(maxsize=4096)
def _count_cached(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))


# Long texts counted lately, within a budget of characters: a long system prompt
# sent turn after turn (and counted again for the prompt cache) is counted once;
# finding it costs a hash and a compare, thousands of times less than counting.
_LONG_COUNTS: OrderedDict[str, int] = OrderedDict()
_LONG_BUDGET = 16 * 1024 * 1024
_LONG_MAX = 1024 * 1024
_long_chars = 0
_long_lock = threading.Lock()  # counts are also made in worker threads


def count(text: str) -> int:
    """How many tokens ``text`` is."""
    if not text:
        return 0
    if len(text) <= 2048:
        return _count_cached(text)
    if len(text) > _LONG_MAX:
        return sum(1 for _ in _TOKEN.finditer(text))
    found = _LONG_COUNTS.get(text)
    if found is not None:
        return found
    tokens = sum(1 for _ in _TOKEN.finditer(text))
    _remember_long(text, tokens)
    return tokens


def _remember_long(text: str, tokens: int) -> None:
    global _long_chars
    with _long_lock:
        if text in _LONG_COUNTS:
            return
        _LONG_COUNTS[text] = tokens
        _long_chars += len(text)
        while _long_chars > _LONG_BUDGET:
            dropped, _ = _LONG_COUNTS.popitem(last=False)
            _long_chars -= len(dropped)


# Fixed costs, in the spirit of the real API's: a few tokens of framing per
# message and per tool, and images priced by size (about 750 pixels a token,
# here estimated from the encoded bytes). The request's own framing comes
# after every position (it opens the reply), so a fully cached prompt still
# has a few input tokens, as the API's do.
REQUEST_OVERHEAD = 3
_MESSAGE_OVERHEAD = 4
_TOOL_OVERHEAD = 12
_IMAGE_MIN, _IMAGE_MAX = 85, 1600


def _block_tokens(block: dict) -> int:
    kind = block.get("type")
    if kind in ("image", "document"):
        source = block.get("source") or {}
        if source.get("type") == "base64":
            size = len(source.get("data") or "") * 3 // 4
            if kind == "image":
                return max(_IMAGE_MIN, min(_IMAGE_MAX, size // 120))
            return max(_IMAGE_MIN, size // 40)
        if kind == "image":
            return _IMAGE_MIN
    return count(_content.block_text(block))


def tool_tokens(tool: dict) -> int:
    """What one tool definition costs: its framing, name, description and input schema."""
    total = _TOOL_OVERHEAD + count(tool.get("name") or "") + count(tool.get("description") or "")
    schema = tool.get("input_schema")
    if schema:
        total += count(orjson.dumps(schema).decode())
    return total


def system_tokens(system: str | list[dict] | None) -> list[int]:
    """What each block of ``system`` costs; the newline joining two texts is the later one's."""
    if not system:
        return []
    if type(system) is str:
        return [count(system)]
    out = []
    joined = False  # whether a text came before: the next one pays for the newline between them
    for block in system:
        tokens = count(_content.block_text(block))
        if tokens and joined:
            tokens += 1
        joined = joined or tokens > 0
        out.append(tokens)
    return out


def positions(request: dict) -> Iterator[tuple[str, int, int, dict | None, int]]:
    """Each position of the prompt in cache order (tools, system, messages) with its tokens:
    ``(section, message index, block index, item, tokens)``, section ``"tools"``, ``"system"``
    or ``"messages"``. A message's framing goes with its first block; a message with no
    content is one position with no item. Plus ``REQUEST_OVERHEAD`` they sum to ``count_request``."""
    for i, tool in enumerate(request.get("tools") or ()):
        yield "tools", -1, i, tool, tool_tokens(tool)
    system = request.get("system")
    if system:
        items = _content.blocks(system)
        for j, tokens in enumerate(system_tokens(system)):
            yield "system", -1, j, items[j], tokens
    for i, message in enumerate(request.get("messages") or ()):
        framing = _MESSAGE_OVERHEAD
        for j, block in enumerate(_content.blocks(message.get("content"))):
            yield "messages", i, j, block, framing + _block_tokens(block)
            framing = 0
        if framing:
            yield "messages", i, -1, None, framing


def count_request(request: dict) -> int:
    """``input_tokens`` of a Messages request: what usage and count_tokens report.

    The request's framing plus what each position costs (``positions``), counted here
    in one loop: this runs for every request."""
    total = REQUEST_OVERHEAD
    for tool in request.get("tools") or ():
        total += tool_tokens(tool)
    system = request.get("system")
    if system:
        total += sum(system_tokens(system))
    for message in request.get("messages") or ():
        total += _MESSAGE_OVERHEAD
        for block in _content.blocks(message.get("content")):
            total += _block_tokens(block)
    return total
