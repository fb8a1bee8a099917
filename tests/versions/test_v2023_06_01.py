"""2023-06-01, both sides: head completion streams and bodies, and what a
2023-01-01 client gets from the same head output."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from dateline.types import Event
from dateline.versions import VERSIONS
from dateline.versions.v2023_06_01 import (
    CompletionLegacyFieldsRemoved,
    CompletionStreamEventsAreNamed,
    CompletionStreamHasNoDoneEvent,
    CompletionStreamIsIncremental,
)


def completion(text, stop_reason=None, stop=None):
    return Event(
        "completion",
        {"type": "completion", "id": "compl_1", "completion": text, "stop_reason": stop_reason,
         "model": "claude-2.1", "stop": stop, "log_id": "compl_1"},
    )


def run(change, events):
    migration = change().stream_down()
    out = [e for event in events for e in migration.feed(event)]
    return out + list(migration.close())


def test_incremental_becomes_cumulative():
    events = [completion(t) for t in [" Hello", " my", " name", " is", " Claude."]]
    out = run(CompletionStreamIsIncremental, events)
    assert [e.data["completion"] for e in out] == [
        " Hello", " Hello my", " Hello my name", " Hello my name is", " Hello my name is Claude."
    ]


def test_named_events_become_data_only_but_pings_stay_named():
    out = run(CompletionStreamEventsAreNamed, [completion(" Hi"), Event("ping", {"type": "ping"}),
                                                Event("error", {"type": "error", "error": {}})])
    assert [e.name for e in out] == [None, "ping", None]


def test_done_is_added_at_the_end_unless_the_stream_failed():
    assert run(CompletionStreamHasNoDoneEvent, [completion(" Hi")])[-1] == Event(None, "[DONE]")
    failed = run(CompletionStreamHasNoDoneEvent, [completion(" Hi"), Event("error", {"type": "error"})])
    assert Event(None, "[DONE]") not in failed


def test_legacy_fields_come_back_in_bodies_and_events():
    body = CompletionLegacyFieldsRemoved().response_down(copy.deepcopy(completion(" Hi").data))
    assert body["exception"] is None and body["truncated"] is False
    out = run(CompletionLegacyFieldsRemoved, [completion(" Hi")])
    assert out[0].data["exception"] is None and out[0].data["truncated"] is False


def test_head_versions_leave_completions_alone():
    for date in ("2026-10-21", "2023-06-01"):
        assert VERSIONS.plan(date, "complete").is_head


def test_2023_06_01_changed_nothing_in_messages():
    # Messages answers are the same under every version; only 2026-10-21 changed its requests.
    for date in ("2023-06-01", "2023-01-01"):
        plan = VERSIONS.plan(date, "messages")
        assert not (plan.response_down or plan.stream_down or plan.error_down)
        assert [type(c).__name__ for c in plan.request_up] == ["SamplingParametersRemoved"]


def test_full_2023_01_01_stream():
    plan = VERSIONS.plan("2023-01-01", "complete")
    head = [completion(" Hello"), Event("ping", {"type": "ping"}), completion(" my"),
            completion("", "stop_sequence", "\n\nHuman:")]
    out = list(plan.migrate_stream(copy.deepcopy(head)))
    assert [e.name for e in out] == [None, "ping", None, None, None]
    assert [e.data["completion"] for e in out if isinstance(e.data, dict) and "completion" in e.data] == [
        " Hello", " Hello my", " Hello my"
    ]
    assert out[-1] == Event(None, "[DONE]")
    assert out[-2].data["stop_reason"] == "stop_sequence" and out[-2].data["truncated"] is False


@given(st.lists(st.text(max_size=8), max_size=30))
def test_last_cumulative_text_is_the_concatenation_of_head_deltas(deltas):
    plan = VERSIONS.plan("2023-01-01", "complete")
    head = [completion(d) for d in deltas] + [completion("", "stop_sequence", "\n\nHuman:")]
    out = [e for e in plan.migrate_stream(head) if isinstance(e.data, dict)]
    assert out[-1].data["completion"] == "".join(deltas)
