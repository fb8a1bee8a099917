"""Which offered tool the user's text names, found in one pass over the text.

A tool is named when its name, or its name with ``_`` or ``-`` read as spaces
(``get weather`` for ``get_weather``), stands in the text on its own: not
inside a longer word or hyphenated run. When several are named, the first in
``tools`` wins.

The text is read as symbols: each maximal run of word characters and hyphens,
each space, and any other character. A name form is a short sequence of the
same symbols, so all forms of all tools go into one Aho-Corasick automaton over
symbols, which reads the text once, however many tools there are. Each state
knows the first tool whose form ends there, so no match is ever listed.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

#: The model reads at most this much of the text (its end, where a request
#: usually says what to do) when looking for tool names.
MAX_TEXT = 2 * 1024 * 1024

_SYMBOL = re.compile(r"([\w-]+)|( )|.", re.DOTALL)
# Non-word symbols: no name holds any character but letters, digits, `_`, `-` and spaces.
_OTHER, _START, _END = "\x00", "\x01", "\x02"
#: What may stand before a form that begins with a space (and after one that ends with one).
_BEFORE, _AFTER = (" ", _OTHER, _START), (" ", _OTHER, _END)
_NONE = 1 << 62


def named_tool(tools: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """The first tool of ``tools`` that ``text`` names, if any."""
    if not tools or not text:
        return None
    patterns = [(form, index) for index, tool in enumerate(tools) for form in _forms(tool["name"].lower())]
    found = _Automaton(patterns).first(_text_symbols(text))
    return tools[found] if found != _NONE else None


def _forms(name: str) -> Iterator[list[str]]:
    for form in {name, name.replace("_", " "), name.replace("-", " ")}:
        symbols = list(_symbols(form))
        # A space at either end needs a non-word neighbour in the text, as a word's edge does.
        for before in _BEFORE if symbols[0] == " " else ("",):
            for after in _AFTER if symbols[-1] == " " else ("",):
                yield [s for s in (before, *symbols, after) if s]


def _symbols(text: str) -> Iterator[str]:
    for match in _SYMBOL.finditer(text):
        yield match.group(1) or match.group(2) or _OTHER


def _text_symbols(text: str) -> Iterator[str]:
    yield _START
    symbols = _symbols(text.lower() if len(text) <= MAX_TEXT else text[-MAX_TEXT:].lower())
    if len(text) > MAX_TEXT:
        next(symbols, None)  # the cut may fall inside a word: its tail is no word of the text
    yield from symbols
    yield _END


class _Automaton:
    """Aho-Corasick over symbols; each pattern carries the index of its tool."""

    def __init__(self, patterns: Iterable[tuple[list[str], int]]) -> None:
        goto: list[dict[str, int]] = [{}]
        first: list[int] = [_NONE]  # the lowest tool index among patterns ending at each state
        for symbols, index in patterns:
            state = 0
            for symbol in symbols:
                nxt = goto[state].get(symbol)
                if nxt is None:
                    nxt = goto[state][symbol] = len(goto)
                    goto.append({})
                    first.append(_NONE)
                state = nxt
            first[state] = min(first[state], index)
        fail = [0] * len(goto)
        queue = deque(goto[0].values())
        while queue:  # breadth first: a state's fail state is shallower, so already complete
            state = queue.popleft()
            first[state] = min(first[state], first[fail[state]])
            for symbol, nxt in goto[state].items():
                back = fail[state]
                while back and symbol not in goto[back]:
                    back = fail[back]
                fail[nxt] = goto[back].get(symbol, 0)
                queue.append(nxt)
        self.goto, self.fail, self.first_at = goto, fail, first

    def first(self, symbols: Iterable[str]) -> int:
        """The lowest tool index among patterns found in ``symbols`` (``_NONE`` if none)."""
        goto, fail, first_at = self.goto, self.fail, self.first_at
        state, found = 0, _NONE
        for symbol in symbols:
            while state and symbol not in goto[state]:
                state = fail[state]
            state = goto[state].get(symbol, 0)
            if first_at[state] < found:
                found = first_at[state]
                if found == 0:
                    break
        return found
