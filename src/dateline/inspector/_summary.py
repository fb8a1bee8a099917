"""What the inspector shows of one logged request, worked out when it is viewed.

Nothing here runs on a request's path: the log keeps bytes and tuples, and
these functions read them — the model, the tokens, the latency, and, for one
request, the head shapes Dateline worked with and the version changes between
them and what the client sent and got.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from .. import errors
from ..resources import messages
from ..versions import VERSIONS, VersionChange

#: The endpoint names version changes use, by path, and what a body becomes before validation.
ENDPOINTS: dict[str, tuple[str, Callable[[dict[str, Any], list[str]], dict[str, Any]] | None]] = {
    "/v1/messages": ("messages", messages.lift),
    "/v1/messages/count_tokens": ("count_tokens", messages.lift),
    "/v1/complete": ("complete", None),
}

_USAGE = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """One row of the list: model, status, latency, tokens, cache hits, who answered."""
    body = entry.get("body")
    answer = entry.get("answer")
    usage = _usage(entry)
    answered = entry.get("answered")
    events = entry.get("events")
    error = answer.get("error") if type(answer) is dict and type(answer.get("error")) is dict else None
    rule = entry.get("rule")
    return {
        "model": body.get("model") if type(body) is dict else None,
        "stream": events is not None,
        "streaming": bool(entry.get("streaming")),
        "latency_ms": None if answered is None else max(0.0, (answered - entry["time"]) * 1000),
        "first_ms": events[0][0] * 1000 if events else None,
        "usage": usage,
        "error": error.get("type") if error else None,
        "answered_by": None if rule is None else (rule.get("name") or f"rule {rule['index']}"),
        "fault": rule is not None and rule.get("index") == -1,
    }


def _usage(entry: dict[str, Any]) -> dict[str, int]:
    answer = entry.get("answer")
    usage: dict[str, int] = {}
    if type(answer) is dict:
        if type(answer.get("usage")) is dict:
            _merge(usage, answer["usage"])
        elif type(answer.get("input_tokens")) is int:  # count_tokens
            usage["input_tokens"] = answer["input_tokens"]
    for data in _stream_data(entry.get("events") or ()):
        kind = data.get("type")
        if kind == "message_start" and type(data.get("message")) is dict:
            _merge(usage, data["message"].get("usage") or {})
        elif kind == "message_delta":
            _merge(usage, data.get("usage") or {})
    return usage


def _merge(usage: dict[str, int], more: dict[str, Any]) -> None:
    for name in _USAGE:
        if type(more.get(name)) is int:
            usage[name] = more[name]


def _stream_data(events: Any) -> list[dict[str, Any]]:
    """The JSON objects a stream's frames carried (the head event's, where a migration kept it)."""
    found = []
    for _, sent, head in events:
        for line in (head or sent).splitlines():
            if line.startswith("data: "):
                try:
                    data = orjson.loads(line[6:])
                except orjson.JSONDecodeError:
                    continue
                if type(data) is dict:
                    found.append(data)
    return found


@dataclass
class Change:
    """One version change between the client's version and head, as the page lists it."""

    version: str
    name: str
    description: str
    #: What it did to this request: "request", "response", "stream".
    did: list[str] = field(default_factory=list)


@dataclass
class Migration:
    """The head shapes beside what the client sent and got, and the changes between them."""

    endpoint: str | None
    head_request: Any = None
    #: Fields of the client's version head has no place for (they travel beside the head request).
    beside: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None
    head_answer: Any = None
    #: The head answer differs from the client's but was not kept (a JSON answer a change rewrote).
    head_answer_unknown: bool = False
    changes: list[Change] = field(default_factory=list)
    request_diff: list[tuple[str, str]] = field(default_factory=list)
    answer_diff: list[tuple[str, str]] = field(default_factory=list)

    @property
    def touched(self) -> str:
        """What the changes touched, in words: "request", "answer" or "request and answer"."""
        did = {what for change in self.changes for what in change.did}
        parts = [part for part, whats in (("request", {"request"}), ("answer", {"response", "stream"})) if did & whats]
        return " and ".join(parts)


def migration(entry: dict[str, Any]) -> Migration:
    """Head's request (migrated up again from the body logged, as the edge did), head's answer where
    it was kept, and the changes of the (version, endpoint) plan with what each touched."""
    known = ENDPOINTS.get(entry["path"])
    version = entry.get("version")
    if known is None or version is None or version not in VERSIONS:
        return Migration(endpoint=None)
    endpoint, lift = known
    plan = VERSIONS.plan(version, endpoint)
    found = Migration(endpoint=endpoint, changes=_changes(plan))
    body = entry.get("body")
    if type(body) is dict:
        try:
            head = copy.deepcopy(body)
            if lift is not None:
                head = lift(head, entry.get("betas") or [])
            found.head_request = plan.migrate_request(dict(head), found.beside) if plan.request_up else head
        except errors.APIError as exc:
            found.refused = exc.message
        except Exception as exc:  # a body its version refused may not migrate either
            found.refused = f"not migrated: {exc}"
        if found.head_request is not None:
            found.request_diff = diff(body, found.head_request, "as sent", "head")
    events = entry.get("events")
    if events is not None:
        if entry.get("migrated"):
            head_text = "".join(head for _, _, head in events if head is not None)
            sent_text = "".join(sent for _, sent, _ in events)
            found.head_answer = head_text
            found.answer_diff = _lines_diff(head_text, sent_text, "head", "as received")
        else:
            found.head_answer = "".join(sent for _, sent, _ in events)
    elif entry.get("answer") is not None:
        if plan.response_down and entry.get("status") == 200:
            found.head_answer_unknown = True
        elif not (plan.error_down and entry.get("status") != 200):
            found.head_answer = entry["answer"]
    return found


def _changes(plan: Any) -> list[Change]:
    changes: dict[type[VersionChange], Change] = {}
    for did, run in (("request", plan.request_up), ("response", plan.response_down), ("stream", plan.stream_down)):
        for change in run:
            kind = type(change)
            if kind not in changes:
                changes[kind] = Change(_introduced(kind), kind.__name__, kind.description)
            changes[kind].did.append(did)
    # Newest first, as the version history reads from head down.
    return sorted(changes.values(), key=lambda c: c.version, reverse=True)


def _introduced(change: type[VersionChange]) -> str:
    for version in VERSIONS:
        if change in version.changes:
            return version.date
    return "?"


def diff(before: Any, after: Any, before_name: str, after_name: str) -> list[tuple[str, str]]:
    """A unified diff of two JSON values, as (kind, line) with kind one of "+", "-", "@", " "."""
    return _lines_diff(pretty(before), pretty(after), before_name, after_name)


def _lines_diff(before: str, after: str, before_name: str, after_name: str) -> list[tuple[str, str]]:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), before_name, after_name, lineterm="", n=2)
    return [(line[:1] if line[:1] in "+-@" else " ", line) for line in lines]


def pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)
