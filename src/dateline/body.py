"""Reading a request body off ASGI: the declared length checked before a byte
is read, then the chunks as they arrive, within a limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from . import errors
from .types import Receive


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """``content-length`` as a number; a malformed one is refused."""
    for name, value in headers:
        if name == b"content-length":
            # Digits only: int() would also take a sign, spaces or underscores.
            if not value.isdigit():
                raise errors.InvalidRequestError("Invalid content-length header")
            return int(value)
    return None


async def chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks in order; more than ``limit`` bytes is refused (413)."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.InvalidRequestError("Client disconnected before the request body was read")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.RequestTooLargeError()
        yield chunk
        if not message.get("more_body", False):
            return


async def read(headers: Iterable[tuple[bytes, bytes]], receive: Receive, limit: int) -> bytes:
    """The whole body, refused unread when it declares more than ``limit``."""
    length = declared_length(headers)
    if length is not None and length > limit:
        raise errors.RequestTooLargeError()
    parts = [chunk async for chunk in chunks(receive, limit)]
    return parts[0] if len(parts) == 1 else b"".join(parts)
