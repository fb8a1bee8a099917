"""The interface every model backend implements.

A backend is given a validated head-version Messages request (a dict, as the
client sent it after migrations) and produces the head-version stream of
Messages events: ``message_start``, per block ``content_block_start`` /
deltas / ``content_block_stop``, ``message_delta``, ``message_stop``. The
Messages resource streams those events or folds them into one ``Message``,
so streamed and non-streamed answers always agree.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..types import EventStream


class Backend(Protocol):
    name: str

    def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        """The head event stream answering ``request``.

        ``stream`` is a hint: when False the backend may send each block in
        one delta, since nobody watches the events arrive.
        """
        ...

    async def count_tokens(self, request: dict[str, Any]) -> int:
        """``input_tokens`` for ``request`` (the same figure ``messages`` reports)."""
        ...
