"""Reading an upstream's answer: whole (a JSON object), or as server-sent
events, with a timeout or a broken connection meanwhile raised as the API's
own error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from .. import errors
from ._pool import Upstream


def broken(upstream: Upstream, exc: httpx.TransportError) -> errors.APIError:
    """The API error for an upstream that stopped answering: timed out, or its connection broke."""
    if isinstance(exc, httpx.TimeoutException):
        return errors.TimeoutError(f"The upstream {upstream.name} sent nothing for {upstream.timeout:g} s")
    return errors.InternalServerError(f"The upstream {upstream.name}'s connection broke off: {exc!r}")


@contextmanager
def reading(upstream: Upstream) -> Iterator[None]:
    """httpx's transport errors inside, as the API's errors (``broken``)."""
    try:
        yield
    except httpx.TransportError as exc:
        raise broken(upstream, exc) from None


async def read_answer(response: httpx.Response, upstream: Upstream) -> None:
    """Read a whole upstream answer into ``response.content``."""
    try:
        with reading(upstream):
            await response.aread()
    finally:
        await response.aclose()


def json_object(response: httpx.Response, upstream: Upstream) -> dict[str, Any]:
    """A whole answer's body, which must be a JSON object (else the API's ``api_error``)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise errors.InternalServerError(f"The upstream {upstream.name} answered with something other than a JSON object")
    return body


async def server_sent_events(response: httpx.Response, upstream: Upstream) -> AsyncIterator[dict[str, str]]:
    """Each event of an SSE body as its fields (``data`` lines joined by newlines)."""
    fields: dict[str, str] = {}
    with reading(upstream):
        async for line in response.aiter_lines():
            if not line:
                if fields:
                    yield fields
                    fields = {}
                continue
            name, _, value = line.partition(":")
            if not name:
                continue  # a comment line
            value = value[1:] if value.startswith(" ") else value
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value
    if fields:
        yield fields
