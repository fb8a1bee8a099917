"""The ``anthropic`` backend: the real Claude API, or any server that speaks it.

Requests go on in the client's own version, with its ``anthropic-version``
and ``anthropic-beta``: the upstream applies that version's rules itself, and
its errors pass through unmodified. An upstream configured with a fixed
``version`` gets every request in that version's shape instead; one that
version cannot carry (an older client's ``temperature`` toward a 2026-10-21
upstream) is refused with that version's own 400, never sent short of a field.
Answers come back with the client's model id; the edge migrates them down to
the client's version, so an old client of an upstream that only speaks
2023-06-01 still gets its old shapes.

What the client sees of the upstream: its ``request-id``, its rate-limit
headers, ``retry-after`` (and ``-ms``), ``x-should-retry``, and its errors (same type, status and message).
An upstream that cannot be reached is tried no further: the next one in the
pool is, and when none answers the client gets 529 ``overloaded_error`` (504
``timeout_error`` if one timed out connecting).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from .. import errors
from ..exchange import exchange
from ..schemas import MessageCountTokensParams, MessageCreateParams
from ..types import Event, EventStream
from ..upstream import (
    Clients,
    Pool,
    Target,
    Upstream,
    json_object,
    read_answer,
    relayable,
    send,
    server_sent_events,
)
from ..versions import VERSIONS
from . import _anthropic_answer as answer
from ._base import Backend

#: Response headers the client is given as the upstream sent them: what its
#: SDK reads to identify a request and to pace its retries.
_RELAYED = frozenset({"request-id", "retry-after", "retry-after-ms", "x-should-retry"})
_RELAYED_PREFIXES = ("anthropic-ratelimit-", "anthropic-priority-", "anthropic-fast-")
#: The client's own credentials, passed on when the upstream has no key configured.
_CREDENTIALS = ("x-api-key", "authorization")
#: Which of a key's workspaces a request is for, where the key has several.
_WORKSPACE = "anthropic-workspace-id"


class AnthropicBackend(Backend):
    name = "anthropic"

    def __init__(self, pool: Pool[Target], clients: Clients) -> None:
        self.pool = pool
        self.clients = clients

    async def message(self, request: dict[str, Any]) -> dict[str, Any]:
        target, response = await self._send("/v1/messages", request)
        message = answer.message(json_object(response, target.upstream), target.upstream)
        message["model"] = request["model"]
        return message

    async def messages(self, request: dict[str, Any], *, stream: bool) -> EventStream:
        # Always streamed from the upstream, whatever the hint: the events are
        # what this method promises, and the upstream's own are the faithful ones.
        target, response = await self._send("/v1/messages", {**request, "stream": True}, stream=True)
        events = _server_sent_events(response, target.upstream)
        stopped = False
        try:
            async for event in events:
                yield _as_clients(event, request["model"], target.upstream)
                stopped = stopped or event.name == "message_stop"
        finally:
            await events.aclose()
            await response.aclose()
        if not stopped:
            # Closed cleanly but early (a proxy, a restart): not a whole answer.
            raise errors.InternalServerError("The upstream's stream ended before message_stop")

    async def count_tokens(self, request: dict[str, Any]) -> int:
        target, response = await self._send("/v1/messages/count_tokens", request)
        return answer.input_tokens(json_object(response, target.upstream), target.upstream)

    async def _send(self, path: str, request: dict[str, Any], *, stream: bool = False) -> tuple[Target, httpx.Response]:
        """The target that answered and its successful response (body unread when ``stream``);
        its errors raised as the API's. A request the upstream received goes no
        further: the Claude API would bill it twice, and its error is the faithful answer."""
        target, response = await send(self.pool, self.clients, path, _in_version(path, request), _headers, resend=False)
        relayed = _relayed_headers(response.headers)
        if relayed:
            current = exchange()
            current.response_headers.update(relayed)
            current.relayed = True
        if response.status_code < 400:
            if not stream:
                await read_answer(response, target.upstream)
            return target, response
        await read_answer(response, target.upstream)
        raise upstream_error(response.content, status=response.status_code, headers=relayed)


def _version(upstream: Upstream) -> str:
    current = exchange()
    return upstream.version or current.version or _carrying(tuple(current.beside))


@functools.cache
def _carrying(names: tuple[str, ...]) -> str:
    """The newest version whose requests have a place for ``names``, for a request whose client
    named no version (a chat completion's sampling parameters: head has no place for them)."""
    for version in VERSIONS:
        fields = VERSIONS.request_model(version.date, MessageCreateParams).model_fields
        if all(name in fields for name in names):
            return version.date
    return VERSIONS.head.date


def _in_version(path: str, request: dict[str, Any]):
    """``request`` (head) as the version each upstream is sent: the client's, or one configured."""
    endpoint, model = (
        ("count_tokens", MessageCountTokensParams)
        if path.endswith("count_tokens")
        else ("messages", MessageCreateParams)
    )
    current = exchange()

    def body(upstream: Upstream) -> dict[str, Any]:
        version = _version(upstream)
        # The client's own version took this request already; another must be asked.
        check = version != current.version
        return VERSIONS.request_for(version, endpoint, model, request, current.beside, check=check)

    return body


def _headers(upstream: Upstream) -> dict[str, str]:
    headers = {"anthropic-version": _version(upstream), "content-type": "application/json"}
    current = exchange()
    if upstream.api_key:
        headers["x-api-key"] = upstream.api_key
    else:
        client_headers = current.headers
        for name in _CREDENTIALS:
            if name in client_headers:
                if not client_headers[name].isascii():
                    # No API key is anything but ASCII; HTTP could not carry it on anyway.
                    raise errors.AuthenticationError(
                        f"invalid {name}" if name == "x-api-key" else "Invalid bearer token"
                    )
                headers[name] = client_headers[name]
        if _WORKSPACE in client_headers:  # it goes with the client's key
            headers[_WORKSPACE] = client_headers[_WORKSPACE]
    if current.betas:
        headers["anthropic-beta"] = ",".join(current.betas)
    return headers


def _relayed_headers(headers: httpx.Headers) -> dict[str, str]:
    return relayable(headers, _relayed)


def _relayed(name: str) -> bool:
    return name in _RELAYED or name.startswith(_RELAYED_PREFIXES)


def upstream_error(body: bytes | dict[str, Any], *, status: int | None, headers: dict[str, str]) -> errors.APIError:
    """The API error an upstream's error envelope (or a bare error status) stands for.

    ``status`` is the HTTP status it came with; None for an ``error`` event in a
    stream, where the type alone decides.
    """
    error = _error_object(body)
    if error is None:
        cls = _class_for_status(status)
        return cls(f"The upstream answered {status or 'an error event'} without an error object", headers=headers)
    error_type, message = error
    cls = errors.ERROR_TYPES.get(error_type)
    exc = (cls or errors.APIError)(message, headers=headers)
    if cls is None:
        exc.type = error_type  # a type this Dateline does not know yet still reaches the client by name
    if status is not None and exc.status_code != status:
        exc.status_code = status  # e.g. a 405 invalid_request_error: the upstream's status stands
    return exc


def _class_for_status(status: int | None) -> type[errors.APIError]:
    if status is None or status >= 500:
        return _BY_STATUS.get(status or 500, errors.InternalServerError)
    return _BY_STATUS.get(status, errors.InvalidRequestError)


_BY_STATUS = {cls.status_code: cls for cls in errors.ERROR_TYPES.values()}


def _error_object(body: bytes | dict[str, Any]) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("type"), str):
        return None
    message = error.get("message")
    return error["type"], message if isinstance(message, str) else ""


async def _server_sent_events(response: httpx.Response, upstream: Upstream) -> AsyncIterator[Event]:
    """The upstream's SSE body as events (``data`` parsed as JSON when it is JSON)."""
    async for event in server_sent_events(response, upstream):
        if "data" in event:
            yield _event(event.get("event"), event["data"])


def _event(name: str | None, text: str) -> Event:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Event(name, text)
    if name is None and isinstance(data, dict):
        name = data.get("type")
    return Event(name, data)


def _as_clients(event: Event, model: str, upstream: Upstream) -> Event:
    """An upstream Messages event as the client's: its model id; an error, or an event out of shape, raised."""
    if event.name == "error":
        raise upstream_error(event.data if isinstance(event.data, dict) else b"", status=None, headers={})
    answer.event(event, upstream)
    if event.name == "message_start":
        event.data["message"]["model"] = model
    return event
