"""The versions engine: which migrations run, in which order, with what state."""

from __future__ import annotations

from typing import Iterable

import pytest

from dateline.types import Event
from dateline.versions import StreamMigration, StreamMigrator, Version, VersionBundle, VersionChange


class RenameInput(VersionChange):
    description = "`input` was called `prompt` before."
    endpoints = frozenset({"things"})

    def request_up(self, body):
        body["input"] = body.pop("prompt")
        return body

    def response_down(self, body):
        body["prompt_echo"] = body.pop("input_echo")
        return body


class WrapInput(VersionChange):
    description = "`input` was a bare string before, now an object."
    endpoints = frozenset({"things"})
    migrate_errors = True

    def request_up(self, body):
        body["input"] = {"text": body["input"]}
        return body

    def response_down(self, body):
        body["input_echo"] = body["input_echo"]["text"] if isinstance(body.get("input_echo"), dict) else body.get("input_echo")
        body.setdefault("seen", []).append("wrap")
        return body


class Counting(StreamMigration):
    def __init__(self) -> None:
        self.n = 0

    def feed(self, event: Event) -> Iterable[Event]:
        self.n += 1
        return (Event(event.name, f"{event.data}#{self.n}"),)

    def close(self) -> Iterable[Event]:
        return (Event("end", f"total={self.n}"),)


class NumberEvents(VersionChange):
    description = "Stream events were numbered."
    endpoints = frozenset({"things"})

    def stream_down(self):
        return Counting()


class Unrelated(VersionChange):
    description = "Touches another endpoint only."
    endpoints = frozenset({"other"})

    def response_down(self, body):
        raise AssertionError("must not run for 'things'")


BUNDLE = VersionBundle(
    Version("2024-03-01", WrapInput),
    Version("2024-02-01", NumberEvents, Unrelated),
    Version("2024-01-01", RenameInput),
    Version("2023-12-01"),
)


def test_head_plan_is_empty():
    plan = BUNDLE.plan("2024-03-01", "things")
    assert plan.is_head


def test_request_up_runs_oldest_first():
    plan = BUNDLE.plan("2023-12-01", "things")
    assert plan.migrate_request({"prompt": "hi"}) == {"input": {"text": "hi"}}


def test_response_down_runs_newest_first():
    plan = BUNDLE.plan("2023-12-01", "things")
    assert plan.migrate_response({"input_echo": {"text": "hi"}}) == {"prompt_echo": "hi", "seen": ["wrap"]}


def test_only_changes_newer_than_the_client_version_apply():
    plan = BUNDLE.plan("2024-01-01", "things")
    assert plan.migrate_request({"input": "hi"}) == {"input": {"text": "hi"}}
    assert [type(c) for c in plan.stream_down] == [NumberEvents]


def test_changes_for_other_endpoints_are_skipped():
    plan = BUNDLE.plan("2023-12-01", "things")
    assert all(not isinstance(c, Unrelated) for c in plan.response_down)
    assert BUNDLE.plan("2023-12-01", "other").response_down[0].__class__ is Unrelated


def test_errors_migrate_only_where_the_change_says_so():
    plan = BUNDLE.plan("2023-12-01", "things")
    assert [type(c) for c in plan.error_down] == [WrapInput]


def test_stream_migrations_keep_state_per_stream():
    plan = BUNDLE.plan("2023-12-01", "things")
    events = [Event("x", "a"), Event("x", "b")]
    assert list(plan.migrate_stream(events)) == [Event("x", "a#1"), Event("x", "b#2"), Event("end", "total=2")]
    # A second stream starts from fresh state.
    live = StreamMigrator(plan)
    assert list(live.feed(Event("x", "c"))) == [Event("x", "c#1")]
    assert list(live.close()) == [Event("end", "total=1")]


def test_unknown_version_has_no_plan():
    with pytest.raises(KeyError):
        BUNDLE.plan("2022-01-01", "things")
    assert "2022-01-01" not in BUNDLE
    assert BUNDLE.get("2024-02-01").date == "2024-02-01"


def test_versions_must_be_newest_first_and_unique():
    with pytest.raises(ValueError):
        VersionBundle(Version("2023-01-01"), Version("2024-01-01"))
    with pytest.raises(ValueError):
        VersionBundle(Version("2024-01-01"), Version("2024-01-01"))


def test_history_reads_oldest_first_with_every_description():
    history = BUNDLE.history()
    assert [date for date, _ in history] == ["2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01"]
    assert history[2][1] == [NumberEvents.description, Unrelated.description]
