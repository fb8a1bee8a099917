"""The edge's part in scripting: the request log."""

from __future__ import annotations

import time
from typing import Any

from ..operation import Call
from ..requestlog import Trace


def record(call: Call, status: int, answer: Any = None) -> None:
    """``answer``: the JSON bytes sent, a stream's ``Trace``, or a ``Response`` (its body, if it has one)."""
    log = call.state.log
    if not log.size:
        return
    decision = call.decision
    scope = call.scope
    # A request refused before its key was accepted keeps nothing it sent:
    # anyone may send one, with headers of any size.
    known = call.api_key is not None
    if answer is not None and type(answer) is not bytes and type(answer) is not Trace:
        answer = getattr(answer, "body", None)  # a streaming response has none: it has a Trace instead
    log.add(
        call.received,
        call.request_id,
        scope["method"],
        scope["path"],
        call.version,
        call.betas,
        call.api_key,
        scope["headers"] if known else None,  # raw; decoded (credentials redacted) when the log is read
        (call.raw or None) if known else None,  # the body as sent; parsed when the log is read
        None if decision is None else {"index": decision.rule, "name": decision.name},
        status,
        answer,  # as sent (bytes, or the stream's frames): read only when viewed
        time.time(),
    )


def trace(call: Call, migrated: bool) -> Trace | None:
    """Where a stream's frames are kept for the log (None while it is off)."""
    log = call.state.log
    return Trace(log, call.received, migrated) if log.size else None
