"""The edge's part in scripting: the request log."""

from __future__ import annotations

from ..operation import Call


def record(call: Call, status: int) -> None:
    log = call.state.log
    if not log.size:
        return
    decision = call.decision
    scope = call.scope
    # A request refused before its key was accepted keeps nothing it sent:
    # anyone may send one, with headers of any size.
    known = call.api_key is not None
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
    )
