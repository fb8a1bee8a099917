"""The edge of ``POST /v1/chat/completions``, OpenAI's side of the Messages operation.

Authentication as for every endpoint (``x-api-key`` or ``Authorization: Bearer``),
no ``anthropic-version`` needed (one sent is accepted and changes nothing: the
request is served under head), betas and ``dateline-fault`` read as usual. The
answer is OpenAI's: a ``chat.completion``, or ``chat.completion.chunk`` frames
ending ``data: [DONE]``; errors in OpenAI's envelope, mid-stream as a
``data: {"error": …}`` frame (the OpenAI SDK raises it). Every response carries
``request-id`` and ``openai-version``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import perf_counter

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .. import body as request_body
from .. import errors, faults
from ..exchange import Exchange
from ..exchange import begin as begin_exchange
from ..exchange import end as end_exchange
from ..ids import request_id as new_request_id
from ..operation import Call, perform
from ..requestlog import STREAM_EVENTS, Trace
from ..resources import chat_completions
from ..resources.limits import standing
from ..state import State
from ..types import Event, EventStream
from ..versions import VERSIONS
from ._auth import UnknownKey, check_models
from ._chat_headers import openai_limits
from ._departure import Departure
from ._edge import _CREDENTIALS, _KEY_LOOKUP, _SLICE, CLIENT_CLOSED, _check_headers, _sendable
from ._observe import Observed
from ._requestlog import record, trace
from ._sse import frame

logger = logging.getLogger("dateline")

#: The endpoint's name in the metrics and the request's log line.
ENDPOINT = "chat_completions"
#: Sent on every answer, as the layer does.
OPENAI_VERSION = ("openai-version", "2020-10-01")
_DONE = b"data: [DONE]\n\n"


class ChatEndpoint:
    """The ASGI app behind ``/v1/chat/completions``."""

    #: OpenAI's shapes, not the Claude API's: no part of a version's OpenAPI document.
    claude_api = False

    def __init__(self, state: State) -> None:
        self.state = state
        self.op = chat_completions.operation(state.catalog)
        #: As an ``Endpoint`` lists them (what the app serves is read off its routes).
        self.operations = {"POST": self.op}
        self.head = VERSIONS.head.date

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        observed = Observed(ENDPOINT, scope, self.state.settings.metrics)
        try:
            await self._answer(scope, receive, send, observed)
        finally:
            observed.done()  # counted and logged once its answer is out (a stream's last frame too)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, observed: Observed) -> None:
        rid = new_request_id()
        op, state = self.op, self.state
        call = token = departure = kept = None
        try:
            if scope["method"] != "POST":
                raise errors.MethodNotAllowedError(headers={"allow": "POST"})
            call = observed.call = Call(rid, state, scope, receive=receive)
            try:
                _check_headers(call, op, state)
            except UnknownKey:
                with contextlib.suppress(TimeoutError):  # a key just made by another process: look once more
                    await asyncio.wait_for(state.keys.recheck(), _KEY_LOOKUP)
                _check_headers(call, op, state)
            call.version = self.head
            call.plan = VERSIONS.plan(self.head, op.endpoint)
            headers = scope["headers"]
            if call.key is not None:  # a key of Dateline's own is no upstream's
                headers = [(name, value) for name, value in headers if name not in _CREDENTIALS]
            call.exchange = Exchange(rid, None, call.betas, headers)  # the client named no version
            token = begin_exchange(call.exchange)
            raw = call.raw = await request_body.read(scope["headers"], receive, op.max_body)
            if call.key is not None and call.key.settings.allowed_models is not None:
                await check_models(call.key, raw, state.catalog)
            departure = Departure(receive)  # from here until the answer starts, a client that leaves cancels it
            try:
                result, fault = await perform(op, call, raw=raw)
                if type(result) is not dict:
                    events = faults.faulty(result.events, fault) if fault is not None else result.events
                    kept = trace(call, True)  # the head event beside each chunk frame
                    usage = chat_completions.include_usage(call.sent)
                    response = await _stream(events, usage, rid, _answer_headers(call, rid), kept, observed)
            finally:
                departure.stop()
            if type(result) is dict:
                # The hot path: two ASGI messages, no Response object.
                body = orjson.dumps(chat_completions.completion(result))
                observed.status = 200
                record(call, 200, body)  # before the answer, so a client that has it can read its entry
                sent = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
                sent += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in _answer_headers(call, rid).items()]
                await send({"type": "http.response.start", "status": 200, "headers": sent})
                await send({"type": "http.response.body", "body": body})
                end_exchange(token)
                return
        except errors.APIError as exc:
            observed.error = exc
            response = _error(exc, rid)
            if call is not None and call.exchange is not None:
                for name, value in _answer_headers(call, rid).items():
                    response.headers.setdefault(name, value)
                if call.key is not None and not any(n.startswith("x-ratelimit-") for n in response.headers):
                    # Refused before admission (a 400…): the key's limit headers all the same.
                    shown = await standing(call, op.endpoint)
                    for name, value in {**shown, **openai_limits(shown)}.items():
                        response.headers.setdefault(name, value)
        except faults.DropConnection:
            # Asked to break before any answer: start one and never finish it.
            observed.status = 200
            if call is not None:
                record(call, 200)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"request-id", rid.encode())]})
            return
        except asyncio.CancelledError:
            if departure is None or not departure.left:
                raise
            asyncio.current_task().uncancel()
            observed.status = CLIENT_CLOSED
            if call is not None:
                record(call, CLIENT_CLOSED)
            if token is not None:
                end_exchange(token)
            return
        except Exception:
            logger.exception("unexpected error serving request %s", rid)
            response = _error(errors.InternalServerError(), rid)
        observed.status = response.status_code
        if call is not None:
            record(call, response.status_code, kept or response)
        try:
            await response(scope, receive, send)
        except faults.DropConnection:
            return  # a stream broken off on purpose: the server closes the connection
        finally:
            if token is not None:
                end_exchange(token)


def _answer_headers(call: Call, rid: str) -> dict[str, str]:
    """What the answer says besides its body: the exchange's headers (an upstream's, the key's
    limits, under OpenAI's names too), ``request-id`` and ``openai-version``."""
    extra = _sendable(call.exchange.response_headers) if call.exchange is not None else {}
    headers = {"request-id": rid, **extra, **openai_limits(extra)}
    headers.setdefault(*OPENAI_VERSION)
    return headers


def _error(exc: errors.APIError, rid: str) -> Response:
    # Worth retrying as the SDKs' own rule has it: conflicts, rate limits, server errors.
    retry = exc.status_code >= 500 or exc.status_code in (409, 429)
    headers = {"request-id": rid, "x-should-retry": "true" if retry else "false", OPENAI_VERSION[0]: OPENAI_VERSION[1]}
    headers.update(_sendable(exc.headers))  # retry-after; an upstream's own request-id
    headers.update(openai_limits(headers))
    return Response(
        orjson.dumps(chat_completions.error_body(exc)),
        status_code=exc.status_code,
        media_type="application/json",
        headers=headers,
    )


async def _stream(
    events: EventStream, usage: bool, rid: str, headers: dict[str, str], kept: Trace | None, observed: Observed
) -> Response:
    # The first event before committing to a 200: a failure this early is an ordinary HTTP error.
    first = await anext(events)
    observed.stream_opened()
    return StreamingResponse(
        _frames(first, events, usage, rid, kept, observed),
        media_type="text/event-stream; charset=utf-8",
        headers={**headers, "cache-control": "no-cache"},
    )


async def _frames(first: Event, events: EventStream, usage: bool, rid: str, kept: Trace | None, observed: Observed):
    chunks = chat_completions.Chunks()
    # With the request log on, every frame is kept as sent with when it went out (a bounded
    # number), the head event it was made of beside it (None for the endpoint's own frames).
    sent = kept.sent if kept is not None else None

    def encode(event: Event) -> bytes:
        data = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks.feed(event.name, event.data))
        if sent is not None:
            keep(data, frame(event))
        return data

    def keep(data: bytes, head: bytes | None) -> None:
        if len(sent) < STREAM_EVENTS:
            sent.append(data)
            kept.times.append(perf_counter())
            if kept.heads is not None:
                kept.heads.append(head)
        else:
            kept.dropped += 1

    def last(data: bytes) -> bytes:
        if sent is not None:
            keep(data, None)
        return data

    try:
        try:
            yield encode(first)
            give_way = perf_counter() + _SLICE
            waiting = True  # for the first token, timed for the metrics
            async for event in events:
                if waiting and event.name == "content_block_delta":
                    observed.first_token = perf_counter()
                    waiting = False
                framed = encode(event)
                if framed:
                    yield framed
                if perf_counter() > give_way:  # a long stream still lets other requests (and a departure) in
                    await asyncio.sleep(0)
                    give_way = perf_counter() + _SLICE
        except errors.APIError as exc:
            yield last(b"data: " + orjson.dumps(chat_completions.error_body(exc)) + b"\n\n")
            return
        except faults.DropConnection:
            raise  # the server then closes the connection mid-stream, as asked
        except Exception:
            logger.exception("unexpected error in stream of request %s", rid)
            yield last(b"data: " + orjson.dumps(chat_completions.error_body(errors.InternalServerError())) + b"\n\n")
            return
        if usage:
            yield last(b"data: " + orjson.dumps(chunks.usage_chunk()) + b"\n\n")
        yield last(_DONE)
    finally:
        if kept is not None:
            kept.end()
