"""The ``anthropic-beta`` header: known values, parsing, the error message."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dateline import errors
from dateline.betas import (
    KNOWN_BETAS,
    MAX_BETAS,
    OTHER_BETAS,
    SDK_BETAS,
    beta_error_message,
    parse_betas,
    unknown_betas,
)

ROOT = Path(__file__).resolve().parents[1]
BETAS = ROOT / "src" / "dateline" / "betas.py"

SUFFIX = (
    " for the `anthropic-beta` header. Please consult our documentation at docs.anthropic.com"
    " or try again without the header."
)


def check_betas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/check_betas.py", *args], cwd=ROOT, capture_output=True, text=True)


def test_sdk_betas_match_the_pinned_sdk() -> None:
    run = check_betas()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SDK_BETAS matches anthropic" in run.stdout


def test_check_betas_names_each_difference(tmp_path: Path) -> None:
    altered = BETAS.read_text().replace(" google-managed-data-controls-2026-09-01", "")
    altered = altered.replace("efs-2026-10-01", "efs-2026-10-01 not-in-the-sdk-2030-01-01")
    (tmp_path / "betas.py").write_text(altered)
    run = check_betas("--betas", str(tmp_path / "betas.py"))
    assert run.returncode == 1
    assert "+ google-managed-data-controls-2026-09-01  (in the SDK, not in SDK_BETAS; refused by Dateline today)" in run.stdout
    assert "- not-in-the-sdk-2030-01-01  (in SDK_BETAS, not in the SDK" in run.stdout
    assert "update SDK_BETAS in src/dateline/betas.py" in run.stderr


def test_sdk_betas_are_known_and_listed_once() -> None:
    assert len(SDK_BETAS) >= 50
    assert SDK_BETAS | OTHER_BETAS == KNOWN_BETAS
    assert SDK_BETAS & OTHER_BETAS == set()


def test_claude_code_betas_are_known() -> None:
    sent = {
        "claude-code-20250219",
        "context-1m-2025-08-07",
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
        "prompt-caching-scope-2026-01-05",
        "mid-conversation-system-2026-04-07",
        "effort-2025-11-24",
        "thinking-token-count-2026-05-13",
        "fine-grained-tool-streaming-2025-05-14",
        "oauth-2025-04-20",
        "tool-examples-2025-10-29",
        "advanced-tool-use-2025-11-20",
        "structured-outputs-2025-11-13",
        "structured-outputs-2025-12-15",
        "web-search-2025-03-05",
        "redact-thinking-2026-02-12",
        "advisor-tool-2026-03-01",
        "extended-cache-ttl-2025-04-11",
        "cache-diagnosis-2026-04-07",
        "fast-mode-2026-02-01",
    }
    assert sent - KNOWN_BETAS == set()


def test_known_betas_look_like_betas() -> None:
    assert isinstance(KNOWN_BETAS, frozenset)
    assert "" not in KNOWN_BETAS
    for beta in KNOWN_BETAS:
        assert beta == beta.strip().lower() and "," not in beta and " " not in beta


def test_parse_single_and_lists() -> None:
    assert parse_betas([]) == []
    assert parse_betas(["prompt-caching-2024-07-31"]) == ["prompt-caching-2024-07-31"]
    assert parse_betas(["a,b", " c , d "]) == ["a", "b", "c", "d"]
    assert parse_betas(["a", "b"]) == ["a", "b"]  # a repeated header


def test_parse_keeps_empty_items() -> None:
    assert parse_betas(["a,,b"]) == ["a", "", "b"]
    assert parse_betas(["a,"]) == ["a", ""]
    assert parse_betas([""]) == [""]
    assert parse_betas(["  "]) == [""]


def test_unknown_betas() -> None:
    good = "interleaved-thinking-2025-05-14"
    assert unknown_betas([good]) == []
    assert unknown_betas([good, "foo"]) == ["foo"]
    assert unknown_betas(["foo", good, "bar", "foo"]) == ["foo", "bar"]
    assert unknown_betas([good, ""]) == [""]
    assert unknown_betas(["foo"], known=frozenset({"foo"})) == []
    assert unknown_betas([""], known=frozenset({""})) == [""]  # empty is never valid
    assert unknown_betas(["Interleaved-Thinking-2025-05-14"]) == ["Interleaved-Thinking-2025-05-14"]


def test_error_message_one_value() -> None:
    assert beta_error_message(["foo"]) == "Unexpected value(s) `foo`" + SUFFIX
    assert (
        beta_error_message(["prompt-caching-2024-07-31"])
        == "Unexpected value(s) `prompt-caching-2024-07-31` for the `anthropic-beta` header. "
        "Please consult our documentation at docs.anthropic.com or try again without the header."
    )


def test_error_message_several_values() -> None:
    assert beta_error_message(["foo", "bar"]) == "Unexpected value(s) `foo`, `bar`" + SUFFIX


def test_error_message_empty_value() -> None:
    assert beta_error_message([""]) == "Unexpected value(s) ``" + SUFFIX


def test_header_to_message() -> None:
    headers = ["claude-code-20250219, foo", "effort-2025-11-24,,bar"]
    bad = unknown_betas(parse_betas(headers))
    assert bad == ["foo", "", "bar"]
    assert beta_error_message(bad) == "Unexpected value(s) `foo`, ``, `bar`" + SUFFIX


def test_more_values_than_the_cap_are_refused() -> None:
    assert len(parse_betas([",".join(["a"] * MAX_BETAS)])) == MAX_BETAS
    with pytest.raises(errors.InvalidRequestError) as caught:
        parse_betas(["a,b", ",".join(["c"] * MAX_BETAS)])
    assert caught.value.message == f"anthropic-beta: at most {MAX_BETAS} values may be given, not {MAX_BETAS + 2}"


def test_unknown_betas_take_linear_time() -> None:
    values = [f"x-{i}" for i in range(200_000)]  # a list kept by `in` took minutes
    started = time.monotonic()
    assert unknown_betas(values + values[:10]) == values
    assert time.monotonic() - started < 2


def test_error_message_names_the_first_values_and_counts_the_rest() -> None:
    message = beta_error_message([f"x-{i}" for i in range(10_000)])
    assert message == "Unexpected value(s) " + ", ".join(f"`x-{i}`" for i in range(16)) + " and 9984 more" + SUFFIX


def test_error_message_cuts_long_values() -> None:
    assert beta_error_message(["y" * 10_000]) == f"Unexpected value(s) `{'y' * 128}…`" + SUFFIX
