"""What an upstream speaking the Claude API must answer for Dateline to pass
it on: a ``Message``, each stream event and a token count in the shape the
API documents, as far as Dateline reads them (``/v1/complete`` folds the
deltas) and the SDKs rely on them.

An answer out of shape is the upstream's failure, told as the API's
``api_error``: the envelope, or ``event: error`` once a stream has begun.
Event and delta types this Dateline does not know pass on untouched: the API
adds them, and clients skip those they do not know either.
"""

from __future__ import annotations

from typing import Any

from ..types import Event
from ..upstream import Upstream, malformed

#: The field each known delta type carries, and the JSON type it must have.
_DELTAS: dict[str, tuple[str, type]] = {
    "text_delta": ("text", str),
    "input_json_delta": ("partial_json", str),
    "thinking_delta": ("thinking", str),
    "signature_delta": ("signature", str),
    "citations_delta": ("citation", dict),
}


def message(data: Any, upstream: Upstream, what: str = "a Message") -> dict[str, Any]:
    """``data`` if it is a Message: an object with a list of content blocks and a usage object."""
    if not isinstance(data, dict):
        raise malformed(upstream, f"{what} that is not a JSON object")
    content = data.get("content")
    if not isinstance(content, list) or not all(_typed(block) for block in content):
        raise malformed(upstream, f"{what} whose content is not a list of typed blocks")
    if not isinstance(data.get("usage"), dict):
        raise malformed(upstream, f"{what} without a usage object")
    return data


def event(upstream_event: Event, upstream: Upstream) -> Event:
    """The event if its shape is the API's (checked for the event types Dateline knows)."""
    name, data = upstream_event
    check = _EVENTS.get(name) if name is not None else None
    if check is None:
        return upstream_event
    if not isinstance(data, dict):
        raise malformed(upstream, f"a {name} event whose data is not a JSON object")
    problem = check(data, upstream)
    if problem:
        raise malformed(upstream, f"a {name} event {problem}")
    return upstream_event


def input_tokens(data: dict[str, Any], upstream: Upstream) -> int:
    """A token count's ``input_tokens``: a whole number, never negative."""
    count = data.get("input_tokens")
    if type(count) is not int or count < 0:
        raise malformed(upstream, "a token count whose input_tokens is not a non-negative integer")
    return count


def _typed(block: Any) -> bool:
    return isinstance(block, dict) and isinstance(block.get("type"), str)


def _index(data: dict[str, Any]) -> bool:
    index = data.get("index")
    return type(index) is int and index >= 0


def _message_start(data: dict[str, Any], upstream: Upstream) -> str | None:
    message(data.get("message"), upstream, "a message_start event with a message")
    return None


def _block_start(data: dict[str, Any], upstream: Upstream) -> str | None:
    if not _index(data):
        return "without an index"
    return None if _typed(data.get("content_block")) else "without a typed content_block"


def _block_delta(data: dict[str, Any], upstream: Upstream) -> str | None:
    if not _index(data):
        return "without an index"
    delta = data.get("delta")
    if not _typed(delta):
        return "without a typed delta"
    field, kind = _DELTAS.get(delta["type"], (None, object))
    if field is not None and not isinstance(delta.get(field), kind):
        return f"whose {delta['type']} has no {field} of the right type"
    return None


def _block_stop(data: dict[str, Any], upstream: Upstream) -> str | None:
    return None if _index(data) else "without an index"


def _message_delta(data: dict[str, Any], upstream: Upstream) -> str | None:
    delta = data.get("delta")
    if not isinstance(delta, dict) or "stop_reason" not in delta:
        return "without a delta holding stop_reason"
    return None if isinstance(data.get("usage"), dict) else "without a usage object"


_EVENTS = {
    "message_start": _message_start,
    "content_block_start": _block_start,
    "content_block_delta": _block_delta,
    "content_block_stop": _block_stop,
    "message_delta": _message_delta,
}
