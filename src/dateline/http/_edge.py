"""The edge between HTTP and the head handlers.

For every Claude endpoint: authenticate, read ``anthropic-version`` and
``anthropic-beta`` before touching the body, read the body within its size
limit, migrate it up to head and validate it, call the head handler, migrate
the response (or every stream event) down to the client's version, and frame
it — with a ``request-id`` on every response, errors included. An answer
whose client leaves before it starts is dropped; a stream gives the event
loop to other requests now and then, and stops when its client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from time import perf_counter

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .. import body as request_body
from .. import errors, faults
from ..betas import beta_error_message, parse_betas, unknown_betas
from ..exchange import Exchange
from ..exchange import begin as begin_exchange
from ..exchange import end as end_exchange
from ..ids import request_id as new_request_id
from ..keys import Key
from ..operation import Call, Operation, perform, plan_for
from ..requestlog import STREAM_EVENTS, Trace
from ..resources.limits import standing
from ..state import State
from ..types import Event, EventStream
from ..versions import VERSIONS, Plan, StreamMigrator
from ._auth import UnknownKey, authenticate, check_admin, check_models
from ._departure import Departure
from ._limits import MAX_HEAD_BYTES, MAX_HEADER_FIELDS, HeadersTooLargeError
from ._observe import Observed
from ._requestlog import record, trace
from ._sse import frame

logger = logging.getLogger("dateline")

_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache"}
#: Seconds a stream may keep the event loop before letting other requests in.
_SLICE = 0.005
_CREDENTIALS = (b"x-api-key", b"authorization")
#: Seconds an unknown API key waits for the keys to be read again.
_KEY_LOOKUP = 1.0
#: The endpoints a key's rate limits apply to.
_LIMITED = frozenset({"messages", "count_tokens"})
#: The request log's status for a client that left before its answer (nginx's "client closed request").
CLIENT_CLOSED = 499


class Endpoint:
    """The ASGI app behind one path; dispatches on the HTTP method."""

    def __init__(self, state: State, **operations: Operation) -> None:
        self.state = state
        self.operations = {method.upper(): op for method, op in operations.items()}
        if "GET" in self.operations and "HEAD" not in self.operations:
            self.operations["HEAD"] = self.operations["GET"]
        self.allow = ", ".join(sorted(self.operations))
        #: The endpoint's name in the metrics and the request's log line.
        self.name = next(iter(self.operations.values())).endpoint if self.operations else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        observed = Observed(self.name, scope, self.state.settings.metrics)
        try:
            await self._answer(scope, receive, send, observed)
        finally:
            observed.done()  # counted and logged once its answer is out (a stream's last event too)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, observed: Observed) -> None:
        rid = new_request_id()
        plan: Plan | None = None
        call = op = None
        token = departure = kept = None
        try:
            op = self.operations.get(scope["method"])
            if op is None:
                raise errors.MethodNotAllowedError(headers={"allow": self.allow})
            call = observed.call = Call(rid, self.state, scope, receive=receive)
            if op.admin:
                _check_size(scope["headers"])
                check_admin(scope["headers"], self.state.settings.admin_token)
                call.raw = await request_body.read(scope["headers"], receive, op.max_body)
            try:
                plan = _check_headers(call, op, self.state)
            except UnknownKey:
                # A key not seen yet may have just been made by another process: look once more
                # (a database too slow to say leaves the key refused).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.state.keys.recheck(), _KEY_LOOKUP)
                plan = _check_headers(call, op, self.state)
            if op.versioned:
                if call.key is None:
                    call.exchange = Exchange(rid, call.version, call.betas, scope["headers"])
                else:
                    # A key of Dateline's own is no upstream's: backends never see it to pass it on.
                    seen = [(name, value) for name, value in scope["headers"] if name not in _CREDENTIALS]
                    call.exchange = Exchange(rid, call.version, call.betas, seen)
                    if call.key.settings.default_version is not None:
                        # A pinned key is told which version answered, whether it named one or not.
                        call.exchange.response_headers["anthropic-version"] = call.version
                token = begin_exchange(call.exchange)
            raw = None
            if op.params is not None:
                raw = call.raw = await request_body.read(scope["headers"], receive, op.max_body)
                if call.key is not None and call.key.settings.allowed_models is not None:
                    await check_models(call.key, raw, self.state.catalog)
                # The body is in: from here until the answer starts, a client that leaves cancels it.
                departure = Departure(receive)
            try:
                result, fault = await perform(op, call, raw=raw)
                if isinstance(result, Response):
                    result.headers["request-id"] = rid
                elif type(result) is not dict:
                    events = faults.faulty(result.events, fault) if fault is not None else result.events
                    if op.scripted:
                        kept = trace(call, plan is not None and bool(plan.stream_down))
                    result = await _stream_response(events, plan, rid, call.exchange, kept, observed)
            finally:
                if departure is not None:
                    departure.stop()
            if type(result) is dict:
                # The hot path: two ASGI messages, no Response object.
                body = orjson.dumps(result)
                observed.status = 200
                if op.scripted:
                    record(call, 200, body)  # before the answer, so a client that has it can read its entry
                headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
                extra = _sendable(call.exchange.response_headers) if call.exchange is not None else None
                if extra:
                    # An upstream's own request-id, if it sent one, is the one to quote.
                    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
                if not extra or "request-id" not in extra:
                    headers.append((b"request-id", rid.encode()))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                if token is not None:
                    end_exchange(token)
                return
            response: Response = result
        except errors.APIError as exc:
            observed.error = exc
            response = error_response(exc, rid, plan)
            if call is not None and call.exchange is not None:
                for name, value in _sendable(call.exchange.response_headers).items():
                    response.headers.setdefault(name, value)
            if call is not None and call.key is not None and op is not None and op.endpoint in _LIMITED:
                if not any(name.startswith("anthropic-ratelimit-") for name in response.headers):
                    # Refused before admission (a 400…): the key's limit headers all the same.
                    for name, value in (await standing(call, op.endpoint)).items():
                        response.headers.setdefault(name, value)
        except faults.DropConnection:
            # Asked to break before any answer: start one and never finish it,
            # so the server closes the connection.
            observed.status = 200
            if call is not None and op is not None and op.scripted:
                record(call, 200)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"request-id", rid.encode())]})
            return
        except asyncio.CancelledError:
            if departure is None or not departure.left:
                raise
            # Nobody to answer: the request is logged as proxies log it, 499 "client closed request".
            asyncio.current_task().uncancel()
            observed.status = CLIENT_CLOSED
            if call is not None and op is not None and op.scripted:
                record(call, CLIENT_CLOSED)
            if token is not None:
                end_exchange(token)
            return
        except Exception:
            logger.exception("unexpected error serving request %s", rid)
            response = error_response(errors.InternalServerError(), rid, plan)
        observed.status = response.status_code
        if call is not None and op is not None and op.scripted:
            record(call, response.status_code, kept or response)
        try:
            await response(scope, receive, send)
        except faults.DropConnection:
            return  # a stream broken off on purpose: the server closes the connection
        finally:
            if token is not None:
                end_exchange(token)


def error_response(exc: errors.APIError, rid: str, plan: Plan | None = None) -> Response:
    # An upstream's error keeps the upstream's request id, in the body as in the header.
    body = exc.to_dict(exc.headers.get("request-id", rid))
    if plan is not None and plan.error_down:
        body = plan.migrate_error(body)
    # Worth retrying as the SDKs' own rule has it: conflicts, rate limits, server errors.
    retry = exc.status_code >= 500 or exc.status_code in (409, 429)
    headers = {"request-id": rid, "x-should-retry": "true" if retry else "false"}
    headers.update(_sendable(exc.headers))
    return Response(orjson.dumps(body), status_code=exc.status_code, media_type=_JSON, headers=headers)


def _sendable(headers: dict[str, str]) -> dict[str, str]:
    """Headers that can go on the wire as they are: a value from elsewhere (an
    upstream) that is not plain printable ASCII is left out, never a broken answer."""
    if all(value.isascii() and value.isprintable() for value in headers.values()):
        return headers  # the usual case, checked without a pattern (a tab is printable ASCII too: below)
    return {name: value for name, value in headers.items() if _SENDABLE.fullmatch(value)}


_SENDABLE = re.compile(r"[\x20-\x7e\t]*")


def _check_size(headers: list[tuple[bytes, bytes]]) -> None:
    """The head's limits (``_check_headers`` checks them on its way), for a server
    that did not enforce them as the head arrived."""
    if len(headers) > MAX_HEADER_FIELDS or sum(len(name) + len(value) for name, value in headers) > MAX_HEAD_BYTES:
        raise HeadersTooLargeError()


def _check_headers(call: Call, op: Operation, state: State) -> Plan | None:
    """Authentication, version and betas, read straight off the raw headers."""
    api_key = bearer = None
    versions: list[str] = []
    betas: list[str] = []
    headers = call.scope["headers"]
    size = 0
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name == b"authorization":
            bearer = value.decode("latin-1")
        elif name == b"anthropic-version":
            versions.append(value.decode("latin-1"))
        elif name == b"anthropic-beta":
            betas.append(value.decode("latin-1"))
        elif name == faults.HEADER and state.settings.fault_header:
            call.fault_header = value.decode("latin-1")
    if size > MAX_HEAD_BYTES or len(headers) > MAX_HEADER_FIELDS:
        raise HeadersTooLargeError()
    if op.authenticated:
        call.api_key, call.key = authenticate(api_key, bearer, state.accepted_keys, state.keys)
    if op.versioned:
        call.version = _version(versions, call.key)
    if betas:
        parsed = parse_betas(betas)
        bad = unknown_betas(parsed, state.known_betas)
        if bad:
            raise errors.InvalidRequestError(beta_error_message(bad))
        call.betas = parsed
    return plan_for(call, op)


def _version(versions: list[str], key: Key | None) -> str:
    """The version a request is served under: the one it names, which its key
    may restrict, or else its key's pinned one."""
    settings = key.settings if key is not None else None
    if not versions:
        if settings is None or settings.default_version is None:
            raise errors.InvalidRequestError("anthropic-version: header is required")
        return settings.default_version
    version = ", ".join(versions)
    if version not in VERSIONS:
        raise errors.InvalidRequestError(f'anthropic-version: "{version}" is not a valid version')
    accepted = settings.accepted_versions if settings is not None else None
    if accepted is not None and version not in accepted:
        raise errors.InvalidRequestError(
            f'anthropic-version: "{version}" is not accepted for this API key (it accepts {", ".join(accepted)})'
        )
    return version


async def _stream_response(
    events: EventStream,
    plan: Plan | None,
    rid: str,
    exchange: Exchange | None,
    kept: Trace | None = None,
    observed: Observed | None = None,
) -> Response:
    # Pull the first event before committing to a 200: a failure this early
    # is still an ordinary HTTP error.
    first = await anext(events)
    migrator = StreamMigrator(plan) if plan is not None and plan.stream_down else None
    extra = _sendable(exchange.response_headers) if exchange is not None else {}
    if observed is not None:
        observed.stream_opened()
    return StreamingResponse(
        _frames(first, events, migrator, rid, kept, observed),
        media_type="text/event-stream; charset=utf-8",
        headers={"request-id": rid, **_SSE_HEADERS, **extra},
    )


async def _frames(
    first: Event,
    events: EventStream,
    migrator: StreamMigrator | None,
    rid: str,
    kept: Trace | None,
    observed: Observed | None = None,
):
    # With the request log on, every frame is kept as sent with when it went out
    # (a bounded number), and the head event beside it when a migration changed it.
    sent = kept.sent if kept is not None else None
    heads = kept.heads if kept is not None else None

    def encode(event: Event) -> bytes:
        if migrator is None:
            return frame(event)
        if heads is not None and len(heads) < STREAM_EVENTS:
            heads.append(frame(event))  # before the migrations change it in place
        events = migrator.feed(event)
        return frame(events[0]) if len(events) == 1 else b"".join(frame(e) for e in events)

    def keep(data: bytes) -> None:
        if len(sent) < STREAM_EVENTS:
            sent.append(data)
            kept.times.append(perf_counter())
        else:
            kept.dropped += 1

    try:
        try:
            data = encode(first)
            yield data
            if sent is not None:
                keep(data)
            # A fast reader never makes sending wait, and a backend with its answer
            # ready never waits either: without giving way now and then, a long
            # stream would hold the loop (and not notice its client leave) to the end.
            give_way = perf_counter() + _SLICE
            waiting = observed is not None  # for the first token, timed for the metrics
            async for event in events:
                if waiting and event.name == "content_block_delta":
                    observed.first_token = perf_counter()
                    waiting = False
                data = encode(event)
                yield data
                now = perf_counter()
                if sent is not None:
                    if len(sent) < STREAM_EVENTS:
                        sent.append(data)
                        kept.times.append(now)
                    else:
                        kept.dropped += 1
                if now > give_way:
                    await asyncio.sleep(0)
                    give_way = perf_counter() + _SLICE
        except errors.APIError as exc:
            data = encode(Event("error", exc.to_dict(rid)))
            yield data
            if sent is not None:
                keep(data)
        except faults.DropConnection:
            raise  # the server then closes the connection mid-stream, as asked
        except Exception:
            logger.exception("unexpected error in stream of request %s", rid)
            data = encode(Event("error", errors.InternalServerError().to_dict(rid)))
            yield data
            if sent is not None:
                keep(data)
        if migrator is not None:
            tail = b"".join(frame(e) for e in migrator.close())
            if tail:
                if heads is not None and len(heads) < STREAM_EVENTS:
                    heads.append(None)  # the migrations' own
                yield tail
                if sent is not None:
                    keep(tail)
    finally:
        if kept is not None:
            kept.end()
