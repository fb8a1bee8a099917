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


#: The most an upstream may send as one whole answer, or as one stream event:
#: an upstream that never stops must not fill the server's memory.
MAX_ANSWER = 64 * 1024 * 1024
MAX_EVENT = 16 * 1024 * 1024


async def read_answer(response: httpx.Response, upstream: Upstream) -> None:
    """Read a whole upstream answer into ``response.content``, at most ``MAX_ANSWER`` bytes."""
    try:
        with reading(upstream):
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise malformed(upstream, f"an answer larger than {MAX_ANSWER // (1024 * 1024)} MiB")
                chunks.append(chunk)
            response._content = b"".join(chunks)  # what aread() would have set
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
    size = 0
    with reading(upstream):
        async for line in _lines(response, upstream):
            if not line:
                if fields:
                    yield fields
                    fields, size = {}, 0
                continue
            size += len(line)
            if size > MAX_EVENT:
                raise malformed(upstream, f"a stream event larger than {MAX_EVENT // (1024 * 1024)} MiB")
            name, _, value = line.partition(":")
            if not name:
                continue  # a comment line
            value = value[1:] if value.startswith(" ") else value
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value
    if fields:
        yield fields


async def _lines(response: httpx.Response, upstream: Upstream) -> AsyncIterator[str]:
    """The body's lines (CR, LF or CRLF), none longer than ``MAX_EVENT`` even before its end arrives."""
    partial: list[str] = []  # the line not yet ended, in pieces: no copying while it grows
    size = 0
    async for text in response.aiter_text():
        if "\n" not in text and "\r" not in text:
            partial.append(text)
            size += len(text)
            if size > MAX_EVENT:
                raise malformed(upstream, f"a stream event larger than {MAX_EVENT // (1024 * 1024)} MiB")
            continue
        pending = "".join(partial) + text
        # A CR at the end may be the first half of a CRLF: it waits for the next piece.
        held = "\r" if pending.endswith("\r") else ""
        *lines, rest = pending[: len(pending) - len(held)].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in lines:
            yield line
        partial, size = [rest + held], len(rest) + len(held)
    if size:
        yield "".join(partial).rstrip("\r")
