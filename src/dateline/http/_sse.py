"""Server-sent events framing: the last step before bytes leave."""

from __future__ import annotations

import orjson

from ..types import Event

_dumps = orjson.dumps


def frame(event: Event) -> bytes:
    """One SSE event; a nameless event is framed data-only."""
    data = event.data
    payload = data.encode() if type(data) is str else _dumps(data)
    if event.name is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.name.encode() + b"\ndata: " + payload + b"\n\n"
