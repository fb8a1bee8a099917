"""What the edge tells operators about each request: the Prometheus metrics
(``metrics.py``) and one log line, both for the requests ending in a turn of the
event loop together, at its end (``Observed.done``, ``report``).

Facts found below the edge reach the request's ``Observed`` through a context
variable: its usage from the usage meter (``ObservedUsage``: every answered
Messages request is recorded there, a stream when it ends), the upstream that
answered from the upstream clients' transport (``ObservedClients``, which also
counts upstream requests, failures and cool-downs).
"""

from __future__ import annotations

from contextvars import ContextVar
from time import perf_counter, time
from typing import TYPE_CHECKING, Any

import httpx

from .. import errors, logs, metrics
from ..turns import AtTurnEnd
from ..upstream import Client, Clients, Upstream, struggling
from ..usage import Counts, UsageMeter

if TYPE_CHECKING:
    from ..operation import Call
    from ..types import Scope

#: Whose usage a caller without a stored key is counted under (as ``resources/limits.py`` records it).
ANONYMOUS = "default"
_STATUS = {code: str(code) for code in range(100, 600)}


class Observed:
    """One request as the edge saw it; ``done()`` has it counted and its line written."""

    __slots__ = (
        "call",
        "elapsed",
        "ended",
        "endpoint",
        "error",
        "error_type",
        "first_token",
        "key",
        "limited",
        "metrics",
        "model",
        "request_id",
        "rule",
        "scope",
        "started",
        "status",
        "streamed",
        "token",
        "upstream",
        "usage",
        "version",
    )

    def __init__(self, endpoint: str, scope: Scope, metrics: bool) -> None:
        self.endpoint = endpoint
        self.scope = scope
        self.metrics = metrics
        self.started = perf_counter()
        self.call: Call | None = None
        self.status = 500
        self.error: errors.APIError | None = None
        self.first_token: float | None = None
        self.streamed = False
        self.upstream: str | None = None
        self.usage: Any = None
        self.token = _current.set(self)

    def stream_opened(self) -> None:
        self.streamed = True
        if self.metrics:
            metrics.OPEN_STREAMS.inc()

    def done(self) -> None:
        """The request's facts taken from its call; counted and logged at the end of this
        turn of the event loop, with the other requests ending in it (``report``)."""
        self.elapsed = perf_counter() - self.started
        self.ended = time()
        _current.reset(self.token)  # an app called in its caller's task (in-process tests) leaves nothing behind
        call = self.call
        self.key = self.model = self.version = ""
        self.request_id = self.rule = None
        self.limited = False
        if call is not None:
            self.request_id = call.request_id
            self.version = call.version or ""
            if call.key is not None:
                self.key = call.key.id
            elif call.api_key is not None:
                self.key = ANONYMOUS
            body = call.body
            if type(body) is dict and type(body.get("model")) is str:
                model = body["model"]
                # A refused request's model may be anything a client made up: not a label of its own.
                if self.status >= 400 and call.state.catalog.get(model) is None and not call.state.any_model:
                    model = "other"
                self.model = model
            decision = call.decision
            if decision is not None:
                self.rule = decision.name if decision.name is not None else decision.rule
            elif self.status == 429:
                # A 429 of a key's own limits: no upstream's, no rule's or fault's.
                self.limited = (
                    isinstance(self.error, errors.RateLimitError) and self.upstream is None and call.key is not None
                )
        self.error_type = self.error.type if self.error is not None else None
        # Timers and tasks begun during the request keep a copy of its context, and so this
        # object: it must not keep the request's body (or its error) alive with it.
        self.call = self.error = None
        if self.metrics or logs.enabled():
            _ended.append(self)
            _reporting.soon()

    def _count(self) -> None:
        if self.streamed:
            metrics.OPEN_STREAMS.dec()
        model = self.model
        status = _STATUS.get(self.status) or str(self.status)
        metrics.add(metrics.REQUESTS, (self.endpoint, self.scope["method"], self.version, model, status, self.key))
        metrics.child(metrics.LATENCY, self.endpoint, model).observe(self.elapsed)
        if self.first_token is not None:
            metrics.child(metrics.FIRST_TOKEN, model).observe(self.first_token - self.started)
        if self.limited:
            metrics.add(metrics.RATE_LIMITED, (self.endpoint, self.key))

    def _log(self) -> None:
        scope = self.scope
        line = logs.begin(scope["method"], scope["path"], self.status, self.ended)
        if line is None:
            return
        line["request_id"] = self.request_id
        line["method"] = scope["method"]
        line["path"] = scope["path"]
        line["endpoint"] = self.endpoint
        line["version"] = self.version or None
        line["model"] = self.model or None
        line["key"] = self.key or None
        line["status"] = self.status
        line["latency_ms"] = round(self.elapsed * 1e6) / 1000  # to the microsecond (faster than round(…, 3))
        if self.streamed:
            line["stream"] = True
            if self.first_token is not None:
                line["first_token_ms"] = round((self.first_token - self.started) * 1e6) / 1000
        usage = self.usage
        if usage is not None:
            line["input_tokens"] = usage.input_tokens
            line["output_tokens"] = usage.output_tokens
            line["cache_read_input_tokens"] = usage.cache_read_input_tokens
            line["cache_creation_input_tokens"] = usage.cache_creation_input_tokens
        if self.upstream is not None:
            line["upstream"] = self.upstream
        if self.error_type is not None:
            line["error"] = self.error_type
        if self.rule is not None:
            line["rule"] = self.rule
        logs.write(line)


#: Requests ended in this turn of the event loop, to be reported at its end.
_ended: list[Observed] = []


def report() -> None:
    """The requests ended since the last report, counted and logged: together, in one
    tight loop, their work costs well under what it costs spread among the requests."""
    ended = _ended[:]
    _ended.clear()
    for seen in ended:
        if seen.metrics:
            seen._count()
        seen._log()


_reporting = AtTurnEnd(report)
_current: ContextVar[Observed | None] = ContextVar("dateline_observed", default=None)


class ObservedUsage(UsageMeter):
    """The usage meter, also counting tokens and handing a request's usage to its ``Observed``."""

    observe_metrics = True

    def record(self, key: str, model: str, usage: Any, *, batch: bool = False) -> Counts:
        added = super().record(key, model, usage, batch=batch)
        if self.observe_metrics:
            metrics.count_tokens(key, model, added, batch=batch)
        if not batch:
            seen = _current.get()
            if seen is not None:
                seen.usage = added
        return added


class ObservedClients(Clients):
    """Upstream clients whose every request is counted, and named on the request's line."""

    observe_metrics = True

    def get(self, upstream: Upstream) -> Client:
        client = super().get(upstream)
        if type(client.transport) is not _Counted:
            client.transport = _Counted(client.transport, upstream.name, self.observe_metrics)
        return client


class _Counted(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, name: str, counted: bool) -> None:
        self.inner = inner
        self.name = name
        self.counted = counted

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        seen = _current.get()
        if seen is not None:
            seen.upstream = self.name
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            if self.counted:
                if isinstance(exc, httpx.TimeoutException):
                    reason = "timeout"
                elif isinstance(exc, httpx.ConnectError):
                    reason = "unreachable"
                else:
                    reason = "broken"
                self._failed("error", reason)
            raise
        if self.counted:
            status = response.status_code
            if struggling(status):
                self._failed(_STATUS.get(status) or str(status), "status")
            else:
                metrics.child(metrics.UPSTREAM_REQUESTS, self.name, _STATUS.get(status) or str(status)).inc()
        return response

    def _failed(self, status: str, reason: str) -> None:
        # Fail-over sets every upstream that fails this way to sit out its cool-down (upstream/_failover.py).
        metrics.child(metrics.UPSTREAM_REQUESTS, self.name, status).inc()
        metrics.child(metrics.UPSTREAM_FAILURES, self.name, reason).inc()
        metrics.child(metrics.UPSTREAM_COOLDOWNS, self.name).inc()

    async def aclose(self) -> None:
        await self.inner.aclose()
