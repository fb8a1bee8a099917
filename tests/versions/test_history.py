"""The version history is data: the dates, the declared changes behind each
entry, and what ``dateline versions`` prints from them."""

from __future__ import annotations

from typer.testing import CliRunner

from dateline import Settings, create_app
from dateline.cli import app as cli
from dateline.versions import VERSIONS, VersionChange

DATES = ["2023-01-01", "2023-06-01", "2026-10-21"]
MIGRATIONS = ("request_up", "response_down", "stream_down")


def entry(date: str) -> list[str]:
    return dict(VERSIONS.history())[date]


def all_changes() -> list[type[VersionChange]]:
    return [change for version in VERSIONS for change in version.changes]


def test_history_lists_the_known_versions_oldest_first() -> None:
    assert [date for date, _ in VERSIONS.history()] == DATES
    assert VERSIONS.head.date == DATES[-1]
    assert all(date in VERSIONS for date in DATES) and "2023-10-01" not in VERSIONS


def test_every_entry_says_something() -> None:
    for date, lines in VERSIONS.history():
        assert lines and all(line.strip() for line in lines), date


def test_every_change_is_described_scoped_and_backed_by_a_migration() -> None:
    changes = all_changes()
    assert changes
    routes = create_app(Settings()).routes
    served = {op.endpoint for route in routes for op in getattr(route.app, "operations", {}).values()}
    for change in changes:
        assert change.description.strip(), change
        assert change.endpoints and change.endpoints <= served, (change, change.endpoints, served)
        changes_something = any(change.overrides(name) for name in MIGRATIONS) or change.schema or change.beside
        assert changes_something, f"{change.__name__} changes nothing"


def test_2023_06_01_entry_has_the_substance_of_the_published_row() -> None:
    text = " ".join(entry("2023-06-01"))
    for phrase in ("incremental", "cumulative", "named", "`event: completion`", "`event: ping`",
                   "`event: error`", "data-only", "`data: [DONE]`", "`exception`", "`truncated`"):
        assert phrase in text, phrase
    assert {c.endpoints for c in VERSIONS.get("2023-06-01").changes} == {frozenset({"complete"})}


def test_2023_01_01_is_the_first_version() -> None:
    assert VERSIONS.get("2023-01-01").changes == ()
    assert entry("2023-01-01") == ["First version."]


def test_2026_10_21_changes_requests_only() -> None:
    changes = VERSIONS.get("2026-10-21").changes
    assert len(changes) == 3
    for change in changes:
        assert change.schema, change
        assert not any(change.overrides(name) for name in ("response_down", "stream_down")), change
        assert change.endpoints <= {"messages", "count_tokens", "batches"}
    for endpoint in ("messages", "count_tokens", "complete", "models"):
        assert VERSIONS.plan("2026-10-21", endpoint).is_head
    assert VERSIONS.plan("2023-06-01", "complete").is_head
    assert VERSIONS.plan("2023-06-01", "count_tokens").is_head  # rules only: nothing to migrate
    assert [c.beside for c in VERSIONS.plan("2023-06-01", "messages").request_up] == [("temperature", "top_p", "top_k")]


def test_printed_history_is_the_declared_one() -> None:
    result = CliRunner().invoke(cli, ["versions"])
    assert result.exit_code == 0, result.output
    printed = result.output
    position = 0
    for date, lines in VERSIONS.history():
        for text in (date, *lines):
            found = printed.find(text, position)
            assert found >= 0, f"{text!r} is not printed (in order)"
            position = found + len(text)
