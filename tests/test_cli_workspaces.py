"""``dateline workspaces``: limits set by the CLI hold a running ``dateline serve`` on the
same database within a second, and removed they are lifted as fast; list, show, set and
remove print what the store holds, and bad input is reported plainly."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
from processes import Served, clean_env, dateline_command
from typer.testing import CliRunner

from dateline.cli import app

MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}


def workspaces(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dateline_command(), "workspaces", *args], capture_output=True, text=True, timeout=60, env=clean_env()
    )


def test_limits_set_by_the_cli_hold_a_running_server_within_a_second(database_url: str, tmp_path: Path):
    served = Served(tmp_path / "serve.log", "--database-url", database_url, "--data-dir", str(tmp_path / "d"))
    try:
        served.wait_ready()
        made = httpx.post(
            f"{served.base_url}/_dateline/keys",
            json={"name": "k", "workspace_id": "wrkspc_cli", "rate_limits": {"requests_per_minute": 100}},
            timeout=30,
        )
        headers = {"x-api-key": made.json()["secret"], "anthropic-version": "2023-06-01"}

        def post() -> httpx.Response:
            return httpx.post(f"{served.base_url}/v1/messages", json=MESSAGE, headers=headers, timeout=30)

        assert post().headers["anthropic-ratelimit-requests-limit"] == "100"
        done = workspaces("set", "wrkspc_cli", "--requests-per-minute", "1", "--database-url", database_url)
        assert done.returncode == 0, done.stderr
        set_at = time.monotonic()
        while (answer := post()).status_code != 429:
            assert time.monotonic() - set_at < 1.0, "the workspace's limit was not applied within a second"
            time.sleep(0.02)
        assert "your workspace's rate limit of 1 requests per minute" in answer.json()["error"]["message"]

        done = workspaces("remove", "wrkspc_cli", "--database-url", database_url)
        assert done.returncode == 0 and "wrkspc_cli: rate limits removed" in done.stdout, done.stderr
        removed_at = time.monotonic()
        while (answer := post()).status_code != 200:
            assert time.monotonic() - removed_at < 1.0, "the workspace's limit was not lifted within a second"
            time.sleep(0.02)
        assert answer.headers["anthropic-ratelimit-requests-limit"] == "100"
    finally:
        served.stop()


# --- the commands themselves, in process ---------------------------------------------------

runner = CliRunner()


def invoke(tmp_path: Path, *args: str, **env: str):
    return runner.invoke(app, ["workspaces", *args, "--data-dir", str(tmp_path)], env={"COLUMNS": "300", **env})


def test_set_list_show_and_remove(tmp_path: Path):
    made = invoke(tmp_path, "set", "wrkspc_a", "--requests-per-minute", "50", "--input-tokens-per-minute", "30000")
    assert made.exit_code == 0, made.output
    details = dict(line.split("\t", 1) for line in made.stdout.splitlines())
    assert details["id"] == "wrkspc_a" and details["rate limits"] == "rpm 50 · itpm 30,000"
    assert details["created"] == details["updated"] and details["created"].endswith("Z")
    # The short names too; set replaces all of a workspace's limits.
    assert invoke(tmp_path, "set", "wrkspc_b", "--otpm", "8000").exit_code == 0
    changed = invoke(tmp_path, "set", "wrkspc_a", "--output-tokens-per-minute", "9000")
    assert dict(line.split("\t", 1) for line in changed.stdout.splitlines())["rate limits"] == "otpm 9,000"
    keys = runner.invoke(app, ["keys", "create", "k", "--workspace", "wrkspc_a", "-q", "--data-dir", str(tmp_path)])
    assert keys.exit_code == 0, keys.output

    listed = invoke(tmp_path, "list").stdout.splitlines()
    assert listed[0].split("\t") == ["id", "limits", "created", "updated"]
    assert [line.split("\t")[:2] for line in listed[1:]] == [["wrkspc_b", "otpm 8,000"], ["wrkspc_a", "otpm 9,000"]]
    shown = dict(line.split("\t", 1) for line in invoke(tmp_path, "show", "wrkspc_a").stdout.splitlines())
    assert shown["rate limits"] == "otpm 9,000" and shown["live keys"] == "1"

    removed = invoke(tmp_path, "remove", "wrkspc_a")
    assert removed.exit_code == 0 and removed.stdout == "wrkspc_a: rate limits removed\n"
    assert [line.split("\t")[0] for line in invoke(tmp_path, "list").stdout.splitlines()[1:]] == ["wrkspc_b"]


def test_at_a_terminal_list_and_show_draw_tables(tmp_path: Path):
    assert invoke(tmp_path, "set", "wrkspc_[x]", "--rpm", "5").exit_code == 0
    listed = invoke(tmp_path, "list", TTY_COMPATIBLE="1")
    assert "\t" not in listed.stdout and "┃" in listed.stdout
    assert "wrkspc_[x]" in listed.stdout and "rpm 5" in listed.stdout  # brackets are no markup
    shown = invoke(tmp_path, "show", "wrkspc_[x]", TTY_COMPATIBLE="1")
    assert "\t" not in shown.stdout and "live keys" in shown.stdout and "wrkspc_[x]" in shown.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("set", "w"), 2, "nothing to set: give --requests-per-minute"),
        (("set", "w", "--rpm", "0"), 2, "rate_limits.requests_per_minute: Input should be greater than or equal to 1"),
        (("set", "w" * 129, "--rpm", "1"), 2, "workspace_id: String should have at most 128 characters"),
        (("show", "wrkspc_nope"), 1, "no workspace with id wrkspc_nope has rate limits"),
        (("remove", "wrkspc_nope"), 1, "no workspace with id wrkspc_nope has rate limits"),
    ],
)
def test_bad_input_is_reported_plainly(tmp_path: Path, args, code, message):
    result = invoke(tmp_path, *args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output


def test_an_unreachable_database_is_reported_plainly():
    result = workspaces("list", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2 and "cannot open the database" in result.stderr
    assert "Traceback" not in result.stderr
