"""The protocol boundary: the few shapes that handlers, backends, version
changes and the HTTP edge pass between each other."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable, MutableMapping, NamedTuple

JSON = dict[str, Any]

# ASGI, as Starlette spells it, without importing Starlette below the edge.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Event(NamedTuple):
    """One stream event, kept as data until the edge frames it as SSE.

    ``name`` is the SSE ``event:`` line; ``None`` frames a data-only event
    (the 2023-01-01 completion stream). ``data`` is a JSON-serialisable value,
    or a ``str`` sent verbatim (``[DONE]``).
    """

    name: str | None
    data: Any


EventStream = AsyncIterator[Event]
