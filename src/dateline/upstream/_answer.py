"""Reading an upstream's answer: whole (a JSON object), or as server-sent
events, with a timeout or a broken connection meanwhile raised as the API's
own error; which of its headers may go on to the client; and the error for an
answer that is not what it should be."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from .. import errors
from ._pool import Upstream

#: A header name (RFC 9110's token), and a value as it can be framed again unchanged:
#: visible ASCII, with spaces and tabs inside. The API's own headers are all such.
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\x20-\x7e\t]*")


def relayable(headers: httpx.Headers, wanted: Callable[[str], bool]) -> dict[str, str]:
    """The headers of an answer that ``wanted`` picks (by lower-case name), for
    the client's answer; one whose value is anything but plain ASCII (UTF-8,
    a control character) is left out: no header may break the client's answer."""
    return {
        name: value
        for name, value in headers.items()
        if wanted(name) and _NAME.fullmatch(name) is not None and _VALUE.fullmatch(value) is not None
    }


def malformed(upstream: Upstream, what: str) -> errors.APIError:
    """The API error for an answer that is not what the upstream's API promises: ``what`` it was."""
    return errors.InternalServerError(f"The upstream {upstream.name} answered with {what}")


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
        raise malformed(upstream, "something other than a JSON object")
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
