"""What a backend may know of the client's request, and add to the answer.

Set by the edge for each request (a context variable, so the small
``Backend`` interface stays ``request in, events out``): upstream backends
read the client's betas and headers to pass them on, and put the upstream's
``request-id`` and rate-limit headers in ``response_headers`` for the edge to
send back.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Exchange:
    request_id: str = ""
    #: The client's ``anthropic-version`` (the request itself is already at head).
    version: str | None = None
    betas: list[str] = field(default_factory=list)
    #: The client's request headers as ASGI has them (lower-case bytes); see ``headers``.
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: Headers to add to the answer (before the first event of a stream).
    response_headers: dict[str, str] = field(default_factory=dict)
    #: Whether an upstream's own headers went into ``response_headers`` (its limits, retry advice).
    relayed: bool = False
    #: Fields of the client's request that head has no place for (an older
    #: client's ``temperature``): an upstream that can use them still gets them.
    beside: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        """The client's request headers (a repeated one joined with commas)."""
        found: dict[str, str] = {}
        for name, value in self.raw_headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            found[key] = f"{found[key]}, {text}" if key in found else text
        return found


_current: ContextVar[Exchange | None] = ContextVar("dateline_exchange", default=None)


def exchange() -> Exchange:
    """The current request's exchange (a blank one outside any request, e.g. in a batch)."""
    found = _current.get()
    if found is None:
        found = Exchange()
        _current.set(found)
    return found


def begin(value: Exchange) -> object:
    return _current.set(value)


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
