"""The edge between HTTP and the head handlers.

For every Claude endpoint: authenticate, read ``anthropic-version`` and
``anthropic-beta`` before touching the body, read the body within its size
limit, migrate it up to head and validate it, call the head handler, migrate
the response (or every stream event) down to the client's version, and frame
it — with a ``request-id`` on every response, errors included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, NamedTuple

import orjson
import pydantic
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .. import errors, faults
from ..exchange import Exchange
from ..exchange import begin as begin_exchange
from ..exchange import end as end_exchange
from ..betas import beta_error_message, parse_betas, unknown_betas
from ..schemas import format_validation_error
from ..types import Event, EventStream
from ..versions import VERSIONS, Plan, StreamMigrator
from ..ids import request_id as new_request_id
from ._script import apply_script, check_admin, record
from ._sse import frame

if TYPE_CHECKING:
    from ..app import State
    from ..backends import Backend
    from ..script import Decision

logger = logging.getLogger("dateline")

MB = 1024 * 1024
_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache"}


class Stream(NamedTuple):
    """A handler's streamed answer: head events, framed as SSE by the edge."""

    events: EventStream


@dataclass(slots=True)
class Call:
    """Everything a head handler may read about the request it serves."""

    request_id: str
    state: State
    scope: Scope
    version: str | None = None
    betas: list[str] = field(default_factory=list)
    api_key: str | None = None
    params: Any = None
    body: Any = None
    raw: bytes = b""
    fault_header: str | None = None
    #: The rule (or ``dateline-fault`` header) answering this request, if any.
    decision: Decision | None = None
    #: When the request arrived (the request log's ``time``).
    received: float = field(default_factory=time.time)
    #: The ASGI receive channel, for handlers that read a body the edge does not (uploads).
    receive: Receive | None = None
    #: What backends see of this request, and the headers they add to the answer.
    exchange: Exchange | None = None

    @property
    def backend(self) -> Backend:
        """Where the answer comes from: a scripted reply, else the configured model."""
        if self.decision is not None and self.decision.reply is not None:
            from ..backends.scripted import ScriptedReply

            return ScriptedReply(self.decision.reply, self.state.signer, token_delay=self.state.settings.token_delay)
        return self.state.backend

    @property
    def path_params(self) -> dict[str, Any]:
        return self.scope.get("path_params", {})

    @property
    def query(self) -> QueryParams:
        return QueryParams(self.scope.get("query_string", b""))

    @property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)


#: A handler answers with a JSON object, a Stream of events, or (for raw
#: bytes such as downloads) a Response of its own.
Handler = Callable[[Call], Awaitable["dict[str, Any] | Stream | Response"]]


@dataclass(frozen=True)
class Operation:
    """One method on one path: its handler and what the edge checks first."""

    handler: Handler
    endpoint: str  #: the name version changes refer to
    params: type[pydantic.BaseModel] | None = None
    max_body: int = 32 * MB
    versioned: bool = True
    authenticated: bool = True
    #: The API's rules beyond the schema; with validation, run once per distinct body.
    check: Callable[[Call], None] | None = None
    #: Rules and faults may answer it, and it is written to the request log.
    scripted: bool = False
    #: Guarded by the admin token instead of an API key; the body is read raw.
    admin: bool = False
    #: Bodies already found valid, by (version, raw bytes); see _read_params.
    valid: dict[tuple[str | None, bytes], Any] = field(default_factory=dict, compare=False, repr=False)


class Endpoint:
    """The ASGI app behind one path; dispatches on the HTTP method."""

    def __init__(self, state: State, **operations: Operation) -> None:
        self.state = state
        self.operations = {method.upper(): op for method, op in operations.items()}
        if "GET" in self.operations and "HEAD" not in self.operations:
            self.operations["HEAD"] = self.operations["GET"]
        self.allow = ", ".join(sorted(self.operations))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_request_id()
        plan: Plan | None = None
        call = op = None
        token = None
        try:
            op = self.operations.get(scope["method"])
            if op is None:
                raise errors.MethodNotAllowedError(headers={"allow": self.allow})
            call = Call(rid, self.state, scope, receive=receive)
            if op.admin:
                check_admin(call)
                call.raw = await _read_body(scope, receive, op.max_body)
            plan = _check_headers(call, op, self.state)
            if op.versioned:
                call.exchange = Exchange(rid, call.version, call.betas, scope["headers"])
                token = begin_exchange(call.exchange)
            if op.params is not None:
                await _read_params(call, op, plan, receive)
            fault = await apply_script(call, op.endpoint) if op.scripted else None
            result = await op.handler(call)
            if type(result) is dict:
                if plan is not None and plan.response_down:
                    result = plan.migrate_response(result)
                # The hot path: two ASGI messages, no Response object.
                body = orjson.dumps(result)
                if op.scripted:
                    record(call, 200)  # before the answer, so a client that has it can read its entry
                headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
                extra = call.exchange.response_headers if call.exchange is not None else None
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
            if isinstance(result, Response):
                response: Response = result
                response.headers["request-id"] = rid
            else:
                events = faults.faulty(result.events, fault) if fault is not None else result.events
                response = await _stream_response(events, plan, rid, call.exchange)
        except errors.APIError as exc:
            response = error_response(exc, rid, plan)
            if call is not None and call.exchange is not None:
                for name, value in call.exchange.response_headers.items():
                    response.headers.setdefault(name, value)
        except faults.DropConnection:
            # Asked to break before any answer: start one and never finish it,
            # so the server closes the connection.
            if call is not None and op is not None and op.scripted:
                record(call, 200)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"request-id", rid.encode())]})
            return
        except Exception:
            logger.exception("unexpected error serving request %s", rid)
            response = error_response(errors.InternalServerError(), rid, plan)
        if call is not None and op is not None and op.scripted:
            record(call, response.status_code)
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
    headers.update(exc.headers)
    return Response(orjson.dumps(body), status_code=exc.status_code, media_type=_JSON, headers=headers)


def _check_headers(call: Call, op: Operation, state: State) -> Plan | None:
    """Authentication, version and betas, read straight off the raw headers."""
    api_key = bearer = None
    versions: list[str] = []
    betas: list[str] = []
    for name, value in call.scope["headers"]:
        if name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name == b"authorization":
            bearer = value.decode("latin-1")
        elif name == b"anthropic-version":
            versions.append(value.decode("latin-1"))
        elif name == b"anthropic-beta":
            betas.append(value.decode("latin-1"))
        elif name == faults.HEADER:
            call.fault_header = value.decode("latin-1")
    if op.authenticated:
        call.api_key = _authenticate(api_key, bearer, state.accepted_keys)
    plan = None
    if op.versioned:
        if not versions:
            raise errors.InvalidRequestError("anthropic-version: header is required")
        version = ", ".join(versions)
        if version not in VERSIONS:
            raise errors.InvalidRequestError(f'anthropic-version: "{version}" is not a valid version')
        call.version = version
        plan = VERSIONS.plan(version, op.endpoint)
    if betas:
        parsed = parse_betas(betas)
        bad = unknown_betas(parsed, state.known_betas)
        if bad:
            raise errors.InvalidRequestError(beta_error_message(bad))
        call.betas = parsed
    return plan


def _authenticate(api_key: str | None, authorization: str | None, accepted: frozenset[str] | None) -> str:
    keys = []
    if api_key:
        keys.append(api_key.strip())
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            keys.append(token.strip())
    keys = [k for k in keys if k]
    if not keys:
        raise errors.AuthenticationError("x-api-key header is required")
    if accepted is None:
        return keys[0]
    for key in keys:
        if key in accepted:
            return key
    raise errors.AuthenticationError("invalid x-api-key")


async def _read_params(call: Call, op: Operation, plan: Plan | None, receive: Receive) -> None:
    raw = await _read_body(call.scope, receive, op.max_body)
    if len(raw) > _THREAD_BYTES:
        # A big body (a batch) takes a while to parse and check: off the event
        # loop, so the server keeps answering other requests meanwhile.
        await asyncio.to_thread(_parse, call, op, plan, raw)
    else:
        _parse(call, op, plan, raw)


def _parse(call: Call, op: Operation, plan: Plan | None, raw: bytes) -> None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if type(body) is not dict:
        raise errors.InvalidRequestError("The request body must be a JSON object")
    if plan is not None and plan.request_up:
        body = plan.migrate_request(body)
    call.body = body
    # Validation and the checks are pure functions of the bytes: a body seen
    # before and found valid (clients repeat requests a lot) is not checked again.
    key = (call.version, raw)
    params = op.valid.get(key)
    if params is None:
        call.params = validate(op.params, body)  # type: ignore[arg-type]
        if op.check is not None:
            op.check(call)
        if len(raw) <= _VALID_MAX_BYTES:
            op.valid[key] = call.params
            if len(op.valid) > _VALID_ENTRIES:
                del op.valid[next(iter(op.valid))]
    else:
        call.params = params


_VALID_ENTRIES, _VALID_MAX_BYTES = 1024, 16 * 1024
_THREAD_BYTES = 1 * MB


def validate(params: type[pydantic.BaseModel], body: dict[str, Any]) -> Any:
    """``body`` as ``params`` (strictly), or the API's invalid_request_error."""
    try:
        # orjson reads JSON 1024 levels deep but writes only 254: refuse here
        # what handlers, backends and the tokenizer could not write back.
        orjson.dumps(body)
    except TypeError:
        raise errors.InvalidRequestError("The request body is nested too deeply") from None
    try:
        # Strict: handlers and backends read the body as sent, so a value that
        # only coerces to its type ("16" for 16, "false" for False) is refused.
        return params.model_validate(body, strict=True)
    except pydantic.ValidationError as exc:
        raise errors.InvalidRequestError(format_validation_error(exc)) from None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # Digits only: int() would also take a sign, spaces or underscores.
            if not value.isdigit():
                raise errors.InvalidRequestError("Invalid content-length header")
            if int(value) > limit:
                raise errors.RequestTooLargeError()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.InvalidRequestError("Client disconnected before the request body was read")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.RequestTooLargeError()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream_response(events: EventStream, plan: Plan | None, rid: str, exchange: Exchange | None) -> Response:
    # Pull the first event before committing to a 200: a failure this early
    # is still an ordinary HTTP error.
    first = await anext(events)
    migrator = StreamMigrator(plan) if plan is not None and plan.stream_down else None
    extra = exchange.response_headers if exchange is not None else {}
    return StreamingResponse(
        _frames(first, events, migrator, rid),
        media_type="text/event-stream; charset=utf-8",
        headers={"request-id": rid, **_SSE_HEADERS, **extra},
    )


async def _frames(first: Event, events: EventStream, migrator: StreamMigrator | None, rid: str):
    def encode(event: Event) -> bytes:
        if migrator is None:
            return frame(event)
        events = migrator.feed(event)
        return frame(events[0]) if len(events) == 1 else b"".join(frame(e) for e in events)

    try:
        yield encode(first)
        async for event in events:
            yield encode(event)
    except errors.APIError as exc:
        yield encode(Event("error", exc.to_dict(rid)))
    except faults.DropConnection:
        raise  # the server then closes the connection mid-stream, as asked
    except Exception:
        logger.exception("unexpected error in stream of request %s", rid)
        yield encode(Event("error", errors.InternalServerError().to_dict(rid)))
    if migrator is not None:
        tail = b"".join(frame(e) for e in migrator.close())
        if tail:
            yield tail
