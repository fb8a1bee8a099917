"""The interface every model backend implements.

A backend is given a validated head-version Messages request (a dict, as the
client sent it after migrations) and produces the head-version stream of
Messages events: ``message_start``, per block ``content_block_start`` /
deltas / ``content_block_stop``, ``message_delta``, ``message_stop``. The
Messages resource streams those events or folds them into one ``Message``,
so streamed and non-streamed answers always agree.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..types import EventStream


class Backend:
    """Base class of model backends; ``messages`` and ``count_tokens`` are required."""

    name: str
    #: Whether ``prompt_cache`` puts cache reads and writes in this backend's usage: true for
    #: the answers Dateline makes itself; an upstream reports its own usage.
    emulates_caching: bool = False

    def route(self, request: dict[str, Any]) -> Backend:
        """The backend that answers ``request``: this one (a router picks one by model)."""
        return self

    def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        """The head event stream answering ``request``.

        ``stream`` is a hint: when False the backend may send each block in
        one delta, since nobody watches the events arrive.
        """
        raise NotImplementedError

    async def count_tokens(self, request: dict[str, Any]) -> int:
        """``input_tokens`` for ``request`` (the same figure ``messages`` reports)."""
        raise NotImplementedError

    async def message(self, request: dict[str, Any]) -> dict[str, Any]:
        """The non-streamed ``Message``: by default, the folded event stream.

        A backend may answer directly, but must give what folding would.
        """
        return await accumulate(self.messages(request, stream=False))


async def accumulate(events: EventStream) -> dict[str, Any]:
    """Fold a head event stream into the ``Message`` it describes."""
    message: dict[str, Any] = {}
    partial_json: dict[int, list[str]] = {}
    async for name, data in events:
        if name == "content_block_delta":
            delta = data["delta"]
            block = message["content"][data["index"]]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "input_json_delta":
                partial_json.setdefault(data["index"], []).append(delta["partial_json"])
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "citations_delta":
                block["citations"] = [*(block.get("citations") or ()), delta["citation"]]
        elif name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_stop":
            parts = partial_json.pop(data["index"], None)
            if parts is not None:
                raw = "".join(parts)
                message["content"][data["index"]]["input"] = orjson.loads(raw) if raw else {}
        elif name == "message_start":
            message = data["message"]
        elif name == "message_delta":
            # As the SDK folds it: counts are running totals, and one left out
            # (or null) keeps the value message_start gave.
            message.update({k: v for k, v in data["delta"].items() if v is not None or k != "container"})
            message["usage"].update({k: v for k, v in data["usage"].items() if v is not None})
    return message
