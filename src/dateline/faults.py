"""Faults on purpose: API errors, latency, and streams that break.

A fault comes from a rule (``dateline.script.Fault``) or from a one-off
``dateline-fault`` request header, e.g. ``dateline-fault: overloaded_error``
or ``dateline-fault: error=rate_limit_error; retry_after=2`` (unless the
server was started with ``--no-fault-header``).
"""

from __future__ import annotations

import asyncio

import pydantic

from . import errors
from .script import Fault, ScriptError
from .types import EventStream

HEADER = b"dateline-fault"
#: The longest delay, in seconds, any client may ask for with the header. A rule
#: (loaded by whoever runs the server) may ask for more; either way an answer
#: is dropped as soon as its client leaves.
MAX_HEADER_DELAY = 60.0


class DropConnection(Exception):
    """Raised inside a stream to cut the connection with no proper ending."""


def error_for(fault: Fault) -> errors.APIError:
    """The API error a fault answers with."""
    error_class = errors.ERROR_TYPES[fault.error or "api_error"]
    headers = {}
    if fault.retry_after is not None:
        headers["retry-after"] = format(fault.retry_after, "g")
    elif error_class is errors.RateLimitError:
        # The API always says when to come back from a 429, and clients read it.
        headers["retry-after"] = "0"
    return error_class(fault.message, headers=headers)


def from_header(value: str) -> Fault:
    """Read a ``dateline-fault`` header: an error type, ``key=value`` pairs, or both
    (``overloaded_error; retry_after=1``)."""
    fields: dict[str, str] = {}
    for i, part in enumerate(value.replace(",", ";").split(";")):
        key, eq, item = part.partition("=")
        if not eq and i == 0:
            fields["error"] = key.strip()
        elif key.strip() or eq:
            fields[key.strip()] = item.strip()
    try:
        fault = Fault.model_validate(fields)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ScriptError(f"dateline-fault header: {where + ': ' if where else ''}{err['msg']}") from None
    for name in ("first_token_delay", "token_delay"):
        delay = getattr(fault, name)
        if delay is not None and delay > MAX_HEADER_DELAY:
            raise ScriptError(f"dateline-fault header: {name}: at most {MAX_HEADER_DELAY:g} seconds")
    return fault


def is_immediate(fault: Fault) -> bool:
    """Whether the fault answers before any event (an error, not a broken stream)."""
    return fault.error is not None and fault.after_events is None


async def faulty(events: EventStream, fault: Fault) -> EventStream:
    """``events``, slowed down and/or broken off as the fault says."""
    if fault.first_token_delay:
        await asyncio.sleep(fault.first_token_delay)
    sent = 0
    async for event in events:
        if fault.after_events is not None and sent >= fault.after_events:
            raise error_for(fault)
        if fault.disconnect_after_events is not None and sent >= fault.disconnect_after_events:
            raise DropConnection()
        if fault.token_delay and event.name == "content_block_delta":
            await asyncio.sleep(fault.token_delay)
        yield event
        sent += 1
