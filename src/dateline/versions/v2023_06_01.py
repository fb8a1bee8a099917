"""2023-06-01: Text Completions streams became incremental, named, [DONE]-less,
and completion responses lost ``exception`` and ``truncated``.

Each class below is one line of the version history. Producers hand every
event a fresh payload, so migrations update payloads in place.
"""

from __future__ import annotations

from typing import Iterable

from ..types import JSON, Event
from ._change import StreamMigration, VersionChange

COMPLETE = frozenset({"complete"})


def _is_completion(event: Event) -> bool:
    data = event.data
    return type(data) is dict and data.get("type") == "completion"


class CompletionStreamIsIncremental(VersionChange):
    description = (
        "Text Completions streaming: each event carries only the new text (incremental), "
        "not all text so far (cumulative)."
    )
    endpoints = COMPLETE

    def stream_down(self) -> StreamMigration:
        return _Cumulative()


class _Cumulative(StreamMigration):
    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = ""

    def feed(self, event: Event) -> Iterable[Event]:
        if _is_completion(event):
            self.text += event.data["completion"]
            event.data["completion"] = self.text
        return (event,)


class CompletionStreamEventsAreNamed(VersionChange):
    description = (
        "Text Completions streaming: every event is a named SSE event (`event: completion`, "
        "`event: ping`, `event: error`) instead of a data-only event."
    )
    endpoints = COMPLETE

    def stream_down(self) -> StreamMigration:
        return _DataOnly()


class _DataOnly(StreamMigration):
    # Pings were already named events under 2023-01-01: the old clients skipped them by name.
    def feed(self, event: Event) -> Iterable[Event]:
        if event.name in ("completion", "error"):
            return (Event(None, event.data),)
        return (event,)


class CompletionStreamHasNoDoneEvent(VersionChange):
    description = "Text Completions streaming: the final `data: [DONE]` event is gone."
    endpoints = COMPLETE

    def stream_down(self) -> StreamMigration:
        return _DoneAtEnd()


class _DoneAtEnd(StreamMigration):
    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def feed(self, event: Event) -> Iterable[Event]:
        if event.name == "error" or (type(event.data) is dict and event.data.get("type") == "error"):
            self.failed = True
        return (event,)

    def close(self) -> Iterable[Event]:
        # A stream cut short by an error never said [DONE].
        return () if self.failed else (Event(None, "[DONE]"),)


class CompletionLegacyFieldsRemoved(VersionChange):
    description = "Text Completions: the legacy `exception` and `truncated` fields are gone from completion responses."
    endpoints = COMPLETE

    def response_down(self, body: JSON) -> JSON:
        body["truncated"] = False
        body["exception"] = None
        return body

    def stream_down(self) -> StreamMigration:
        return _LegacyFields()


class _LegacyFields(StreamMigration):
    def feed(self, event: Event) -> Iterable[Event]:
        if _is_completion(event):
            event.data["truncated"] = False
            event.data["exception"] = None
        return (event,)


CHANGES = (
    CompletionStreamIsIncremental,
    CompletionStreamEventsAreNamed,
    CompletionStreamHasNoDoneEvent,
    CompletionLegacyFieldsRemoved,
)
