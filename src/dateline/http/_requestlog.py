"""The edge's part in scripting: the request log."""

from __future__ import annotations

from ..operation import Call


def record(call: Call, status: int) -> None:
    log = call.state.log
    if not log.size:
        return
    decision = call.decision
    scope = call.scope
    log.add(
        call.received,
        call.request_id,
        scope["method"],
        scope["path"],
        call.version,
        call.betas,
        call.api_key,
        scope["headers"],  # raw; decoded when the log is read
        call.body if call.sent is None else call.sent,
        None if decision is None else {"index": decision.rule, "name": decision.name},
        status,
    )
