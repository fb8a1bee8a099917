"""Running one API operation on one request body, wherever the body came from.

The HTTP edge and the batch processor both answer through ``perform``: the
body is validated against the client's version of the request schema,
migrated up to head, checked against the API's rules beyond the schema,
matched against the scripted rules, and given to the head handler; a JSON
answer comes back migrated down to the client's version. What only HTTP has
(headers, framing, the request log) stays at the edge.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, NamedTuple

import orjson
import pydantic
from starlette.datastructures import Headers, QueryParams

from . import errors, faults
from .backends.scripted import ScriptedReply
from .exchange import Exchange
from .schemas import validate
from .script import Decision, Fault, Request, ScriptError
from .types import EventStream, Receive, Scope
from .versions import VERSIONS, Plan

if TYPE_CHECKING:
    from .backends import Backend
    from .keys import Key
    from .state import State

MB = 1024 * 1024


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
    #: The store's key the caller authenticated with (its id, workspace, settings); None for any other key.
    key: Key | None = None
    #: The validated request model; None when a big body was validated in the
    #: worker process and its model could not travel back (see _prepare_off_loop).
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
    #: The migrations between the client's version and head, for this endpoint.
    plan: Plan | None = None
    #: The body as the client sent it, when migrating it up changed it (the request log shows this).
    sent: Any = None

    @property
    def backend(self) -> Backend:
        """Where the answer comes from: a scripted reply, else the configured model."""
        if self.decision is not None and self.decision.reply is not None:
            settings = self.state.settings
            return ScriptedReply(self.decision.reply, self.state.signer, token_delay=settings.token_delay)
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
#: bytes such as downloads) an ASGI response of its own.
Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One method on one path: its handler and what is checked first."""

    handler: Handler
    endpoint: str  #: the name version changes refer to
    params: type[pydantic.BaseModel] | None = None
    max_body: int = 32 * MB
    versioned: bool = True
    authenticated: bool = True
    #: The API's rules beyond the schema; with validation, run once per distinct body.
    check: Callable[[Call], None] | None = None
    #: What a body becomes before it is validated, given the request's betas: a deprecated
    #: field a beta still takes, moved to its head place (or the 400 without the beta).
    #: A module-level function: big bodies are validated in a worker process.
    lift: Callable[[dict[str, Any], list[str]], dict[str, Any]] | None = None
    #: Rules and faults may answer it, and it is written to the request log.
    scripted: bool = False
    #: Guarded by the admin token instead of an API key; the body is read raw.
    admin: bool = False
    #: Bodies already found valid, by (version, raw bytes); see _prepare.
    valid: dict[tuple[str | None, bytes], Any] = field(default_factory=dict, compare=False, repr=False)


def plan_for(call: Call, op: Operation) -> Plan | None:
    """The version plan of ``call`` for ``op`` (set on the call), once its version is known."""
    if op.versioned and call.version is not None:
        call.plan = VERSIONS.plan(call.version, op.endpoint)
    return call.plan


async def perform(op: Operation, call: Call, *, raw: bytes | None = None, body: Any = None) -> tuple[Any, Fault | None]:
    """Answer ``call`` with ``op``, from ``raw`` JSON bytes or an already parsed ``body``.

    Returns the answer (a JSON object already in the client's version, a head
    ``Stream``, or a handler's own response) and the fault still to apply to a
    stream; raises ``errors.APIError`` for every refusal.
    """
    if op.params is not None:
        if raw is not None and len(raw) > _OFF_LOOP_BYTES:
            await _prepare_off_loop(op, call, raw)
        else:
            _prepare(op, call, raw, body)
    fault = await apply_script(call, op.endpoint) if op.scripted else None
    result = await op.handler(call)
    if type(result) is dict and call.plan is not None and call.plan.response_down:
        result = call.plan.migrate_response(result)
    return result, fault


def _prepare(
    op: Operation, call: Call, raw: bytes | None, body: Any, *, checked: bool = False, params: Any = None
) -> None:
    """Parse, validate (unless ``checked`` already, giving ``params``), migrate up and check the body."""
    if raw is not None:
        body = _parse(raw)
    elif type(body) is not dict:
        raise errors.InvalidRequestError("The request body must be a JSON object")
    if op.lift is not None:
        # Before the remembered bodies are looked up: whether it lifts depends on the betas, not only the bytes.
        lifted = op.lift(body, call.betas)
        if lifted is not body:
            call.sent, body = body, lifted
    # Validated as the client's version has it, then carried up to head.
    # Validation and the checks are pure functions of the bytes: a body seen
    # before and found valid (clients repeat requests a lot) is not checked again.
    key = (call.version, raw) if raw is not None and len(raw) <= _VALID_MAX_BYTES else None
    known = False
    if not checked:
        params = op.valid.get(key) if key is not None else None
        known = params is not None
        if not known:
            model = VERSIONS.request_model(call.version or VERSIONS.head.date, op.params)
            params = validate(model, body)
    plan = call.plan
    if plan is not None and plan.request_up:
        # Migrations change the top level only: a shallow copy keeps the client's body whole.
        if call.sent is None:
            call.sent = body
        body = plan.migrate_request(dict(body), call.exchange.beside if call.exchange is not None else None)
    call.body, call.params = body, params
    if known:
        return
    if op.check is not None:
        op.check(call)
    if key is not None:
        op.valid[key] = params
        if len(op.valid) > _VALID_ENTRIES:
            del op.valid[next(iter(op.valid))]


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if type(body) is not dict:
        raise errors.InvalidRequestError("The request body must be a JSON object")
    return body


_VALID_ENTRIES, _VALID_MAX_BYTES = 1024, 16 * 1024

# -- big bodies, off the event loop ----------------------------------------------------------
#
# Parsing and validating hold the interpreter's lock for as long as one call
# into orjson or pydantic lasts: seconds for a body of a million small values
# (valid or not), however it is split among threads. So a big body is parsed
# and validated in a worker process first; only its verdict comes back (and
# the validated params, when their model can travel by name: a version's
# derived request model cannot, and the handlers of those endpoints read the
# body). The body is then parsed here in a thread, migrated and checked.

#: Bodies bigger than this are validated in the worker process. Below it the
#: worst case (every value an error) costs pydantic well under 0.2 s.
_OFF_LOOP_BYTES = 64 * 1024

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


async def _prepare_off_loop(op: Operation, call: Call, raw: bytes) -> None:
    verdict = await _validate_in_worker(op, call.version, raw, call.betas)
    if verdict is None:  # no worker to be had: validate here, in a thread
        await asyncio.to_thread(_prepare, op, call, raw, None)
        return
    problem, pickled = verdict
    if problem is not None:
        # The refusal itself when it travelled (a chat completion's names its parameter).
        raise pickle.loads(pickled) if pickled is not None else errors.InvalidRequestError(problem)  # noqa: S301
    params = pickle.loads(pickled) if pickled is not None else None  # noqa: S301 - our own worker's bytes
    await asyncio.to_thread(_prepare, op, call, raw, None, checked=True, params=params)


async def _validate_in_worker(
    op: Operation, version: str | None, raw: bytes, betas: list[str]
) -> tuple[str | None, bytes | None] | None:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn: forking a process that runs threads and an event loop is not safe.
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_outlive_no_parent,
                initargs=(os.getpid(),),
            )
        pool = _pool
    try:
        return await asyncio.get_running_loop().run_in_executor(
            pool, _validate_elsewhere, version, op.params, raw, op.lift, betas
        )
    except (BrokenProcessPool, OSError, RuntimeError):
        # The worker died (killed, out of memory) or could not start: the next big body tries a new one.
        with _pool_lock:
            if _pool is pool:
                _pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        return None


def _outlive_no_parent(parent: int) -> None:
    """In the worker process: end with the server, even one killed outright (nothing else tells the worker)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


def _validate_elsewhere(
    version: str | None, params: type[pydantic.BaseModel], raw: bytes, lift: Any = None, betas: list[str] | None = None
) -> tuple[str | None, bytes | None]:
    """In the worker process: the body's refusal (and the error pickled), or None and its params
    pickled (None if they cannot travel)."""
    try:
        body = _parse(raw)
        if lift is not None:
            body = lift(body, betas or [])
        found = validate(VERSIONS.request_model(version or VERSIONS.head.date, params), body)
    except errors.APIError as exc:
        try:
            return exc.message, pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError):
            return exc.message, None
    try:
        return None, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        return None, None


async def apply_script(call: Call, endpoint: str) -> Fault | None:
    """Decide the rule or fault for ``call``; raise an immediate fault's error.

    Returns the fault still to apply to the answer (latency, a broken stream).
    """
    state = call.state
    header = None
    if call.fault_header is not None:
        try:
            header = faults.from_header(call.fault_header)
        except ScriptError as exc:
            raise errors.InvalidRequestError(str(exc)) from None
    if header is None or not faults.is_immediate(header):
        if state.scripter.active:
            request = Request.of(endpoint, call.body or {}, _headers(call), call.api_key)
            call.decision = await state.scripter.adecide(request)
    if header is not None:
        # The header overrides a rule's fault; a rule's scripted reply still
        # answers when the header only slows or breaks the stream.
        if call.decision is not None and call.decision.reply is not None and not faults.is_immediate(header):
            call.decision = call.decision.model_copy(update={"fault": header})
        else:
            call.decision = Decision(rule=-1, name="dateline-fault header", reply=None, fault=header)
    fault = call.decision.fault if call.decision is not None else None
    if fault is None:
        return None
    if faults.is_immediate(fault) or not (call.body or {}).get("stream"):
        # Without a stream there are no events to break off after: the whole
        # fault happens before the answer.
        if fault.first_token_delay:
            await asyncio.sleep(fault.first_token_delay)
        if fault.error is not None:
            raise faults.error_for(fault)
        if fault.disconnect_after_events is not None:
            raise faults.DropConnection()
        return None
    return fault


def _headers(call: Call) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in call.scope["headers"]}
