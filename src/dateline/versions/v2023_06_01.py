"""2023-06-01: Text Completions streams became incremental, named, [DONE]-less,
and completion responses lost ``exception`` and ``truncated``.

Each class below is one line of the version history. Producers hand every
event a fresh payload, so migrations update payloads in place.
"""

from __future__ import annotations

from typing import Iterable

from ..types import JSON, Event
from ._change import EventMap, StreamMigration, VersionChange

COMPLETE = frozenset({"complete"})


class CompletionStreamIsIncremental(VersionChange):
    description = (
        "Text Completions streaming: each event carries only the new text (incremental), "
        "not all text so far (cumulative)."
    )
    endpoints = COMPLETE

    def stream_down(self) -> StreamMigration:
        return _Cumulative()


class _Cumulative(EventMap):
    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = ""

    def map(self, event: Event) -> Event:
        data = event.data
        if type(data) is dict and data.get("type") == "completion":
            self.text = text = self.text + data["completion"]
            data["completion"] = text
        return event


class CompletionStreamEventsAreNamed(VersionChange):
    description = (
        "Text Completions streaming: every event is a named SSE event (`event: completion`, "
        "`event: ping`, `event: error`) instead of a data-only event."
    )
    endpoints = COMPLETE

    def stream_down(self) -> StreamMigration:
        return _DataOnly()


class _DataOnly(EventMap):
    # Pings were already named events under 2023-01-01: the old clients skipped them by name.
    def map(self, event: Event) -> Event:
        if event.name in ("completion", "error"):
            return Event(None, event.data)
        return event


class CompletionStreamHasNoDoneEvent(VersionChange):
    description = "Text Completions streaming: the final `data: [DONE]` event is gone."
    endpoints = COMPLETE

    def stream_down(self) -> StreamMigration:
        return _DoneAtEnd()


class _DoneAtEnd(EventMap):
    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def map(self, event: Event) -> Event:
        if event.name == "error":
            self.failed = True
        elif event.name is None and type(event.data) is dict and event.data.get("type") == "error":
            self.failed = True
        return event

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


class _LegacyFields(EventMap):
    def map(self, event: Event) -> Event:
        data = event.data
        if type(data) is dict and data.get("type") == "completion":
            data["truncated"] = False
            data["exception"] = None
        return event


CHANGES = (
    CompletionStreamIsIncremental,
    CompletionStreamEventsAreNamed,
    CompletionStreamHasNoDoneEvent,
    CompletionLegacyFieldsRemoved,
)
