"""The edge's part in scripting: which rule or fault answers a request, the
request log, and the admin token."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .. import errors, faults
from ..script import Decision, Fault, Request, ScriptError

if TYPE_CHECKING:
    from ._edge import Call


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
            call.decision = state.scripter.decide(request)
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
        call.body,
        None if decision is None else {"index": decision.rule, "name": decision.name},
        status,
    )


def check_admin(call: Call) -> None:
    token = call.state.settings.admin_token
    if not token:
        return
    offered = None
    for name, value in call.scope["headers"]:
        if name == b"x-dateline-admin-token":
            offered = value.decode("latin-1").strip()
        elif name == b"authorization" and offered is None:
            scheme, _, rest = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer":
                offered = rest.strip()
    if offered != token:
        raise errors.AuthenticationError("invalid admin token")
