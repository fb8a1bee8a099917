"""``dateline batch submit`` and ``dateline batch results`` against a real
server: through typer's runner on ``dateline.cli.app``, and as a real
subprocess (``python -m dateline``), as people use them from the shell."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dateline.cli import app
from dateline.testing import DatelineServer

MODEL = "claude-sonnet-4-5"
BATCH_ID = re.compile(r"msgbatch_\w+")


def request(i: int, **params: Any) -> dict[str, Any]:
    """A batch request; every prompt differs, so none is answered from the model's memo."""
    body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": f"Tide pool fact {i}"}]}
    return {"custom_id": f"req-{i}", "params": {**body, **params}}


def write_jsonl(path: Path, requests: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    return path


def batch_cli(base_url: str, *args: str, env: dict[str, str] | None = None):
    """Run ``dateline batch ARGS`` in-process, with stdout and stderr apart."""
    result = CliRunner().invoke(app, ["batch", *args, "--base-url", base_url], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def list_batches(base_url: str, api_key: str = "k") -> list[dict[str, Any]]:
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    response = httpx.get(f"{base_url}/v1/messages/batches", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def result_lines(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def served() -> Iterator[DatelineServer]:
    with DatelineServer() as running:
        yield running


@pytest.fixture
def fresh() -> Iterator[DatelineServer]:
    """A server of the test's own: no batch exists on it yet."""
    with DatelineServer() as running:
        yield running


def test_submit_200_wait_then_results_to_a_file(served: DatelineServer, tmp_path: Path) -> None:
    requests = [request(i) for i in range(200)]
    source = write_jsonl(tmp_path / "requests.jsonl", requests)

    submitted = batch_cli(served.base_url, "submit", str(source), "--wait", "--poll-interval", "0.05")
    assert submitted.exit_code == 0, submitted.stderr
    batch_id = BATCH_ID.search(submitted.stdout).group()
    assert "200 requests" in submitted.stdout
    assert re.search(r"succeeded\s*│\s*200\b", submitted.stdout), submitted.stdout

    output = tmp_path / "results.jsonl"
    fetched = batch_cli(served.base_url, "results", batch_id, "--output", str(output))
    assert fetched.exit_code == 0, fetched.stderr
    assert fetched.stdout == ""  # the results went to the file
    assert "200 results: 200 succeeded, 0 errored, 0 canceled, 0 expired" in fetched.stderr
    lines = result_lines(output.read_text())
    assert len(lines) == 200
    assert sorted(line["custom_id"] for line in lines) == sorted(r["custom_id"] for r in requests)
    assert {line["result"]["type"] for line in lines} == {"succeeded"}
    assert all(line["result"]["message"]["usage"]["service_tier"] == "batch" for line in lines)
    assert not (tmp_path / "results.jsonl.part").exists()


def test_an_invalid_request_errors_alone(served: DatelineServer, tmp_path: Path) -> None:
    requests = [request(i) for i in range(5)]
    del requests[2]["params"]["max_tokens"]
    source = write_jsonl(tmp_path / "requests.jsonl", requests)

    submitted = batch_cli(served.base_url, "submit", "-q", "--wait", "--poll-interval", "0.05", str(source))
    assert submitted.exit_code == 0, submitted.stderr
    fetched = batch_cli(served.base_url, "results", submitted.stdout.strip())
    assert fetched.exit_code == 0, fetched.stderr
    results = {line["custom_id"]: line["result"] for line in result_lines(fetched.stdout)}
    assert results.pop("req-2") == {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
            "request_id": None,
        },
    }
    assert sorted(results) == ["req-0", "req-1", "req-3", "req-4"]
    assert {result["type"] for result in results.values()} == {"succeeded"}
    assert "5 results: 4 succeeded, 1 errored" in fetched.stderr


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        ('{"custom_id": "req-9", "params": {', "line 3, column 35: not valid JSON (unexpected end of data)"),
        ('["req-9", {}]', 'line 3: expected {"custom_id": "...", "params": {...}}'),
        ('{"custom_id": "req-9", "params": "hello"}', "line 3: expected"),
        ('{"custom_id": "req-0", "params": {}}', "line 3: custom_id 'req-0' is already used on line 1"),
    ],
    ids=["not-json", "not-an-object", "params-not-an-object", "duplicate-custom-id"],
)
def test_a_malformed_line_sends_nothing(fresh: DatelineServer, tmp_path: Path, bad_line: str, says: str) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text(f"{json.dumps(request(0))}\n\n{bad_line}\n{json.dumps(request(1))}\n")

    result = batch_cli(fresh.base_url, "submit", str(source))
    assert result.exit_code == 2
    assert says in result.stderr
    assert str(source) in result.stderr
    assert result.stdout == ""
    assert list_batches(fresh.base_url) == []


def test_a_request_the_api_refuses_is_named_by_its_line(fresh: DatelineServer, tmp_path: Path) -> None:
    requests = [request(0), {"custom_id": "not allowed!", "params": {}}]
    source = write_jsonl(tmp_path / "requests.jsonl", requests)
    result = batch_cli(fresh.base_url, "submit", str(source))
    assert result.exit_code == 1
    assert "invalid_request_error: requests.1.custom_id: String should match pattern" in result.stderr
    assert f"({source}, line 2)" in result.stderr
    assert list_batches(fresh.base_url) == []


def test_an_empty_file_is_refused(fresh: DatelineServer, tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("\n\n")
    result = batch_cli(fresh.base_url, "submit", str(source))
    assert result.exit_code == 2
    assert "no requests" in result.stderr
    assert list_batches(fresh.base_url) == []


def test_results_of_an_unknown_batch(served: DatelineServer, tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    result = batch_cli(served.base_url, "results", "msgbatch_nope", "--output", str(output))
    assert result.exit_code == 1
    assert "not_found_error: message_batch: msgbatch_nope" in result.stderr
    assert result.stdout == ""
    assert not output.exists()


def test_quiet_prints_only_the_id(served: DatelineServer, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "requests.jsonl", [request(i) for i in range(3)])
    result = batch_cli(served.base_url, "submit", "-q", str(source))
    assert result.exit_code == 0, result.stderr
    assert BATCH_ID.fullmatch(result.stdout.rstrip("\n"))
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""
    assert result.stdout.strip() in {batch["id"] for batch in list_batches(served.base_url)}


def test_results_before_the_batch_ends(tmp_path: Path) -> None:
    with DatelineServer() as server:
        # Every request takes a while, so the batch is still in progress when asked.
        server.fail(None, times=None, first_token_delay=1.0)
        source = write_jsonl(tmp_path / "requests.jsonl", [request(i) for i in range(3)])
        batch_id = batch_cli(server.base_url, "submit", "-q", str(source)).stdout.strip()

        early = batch_cli(server.base_url, "results", batch_id)
        assert early.exit_code == 1
        assert f"{batch_id} is still in_progress" in early.stderr
        assert "--wait" in early.stderr
        assert early.stdout == ""

        waited = batch_cli(server.base_url, "results", batch_id, "--wait", "--poll-interval", "0.05")
        assert waited.exit_code == 0, waited.stderr
        assert len(result_lines(waited.stdout)) == 3


def test_sends_the_api_key(tmp_path: Path) -> None:
    """(The anthropic-version header goes too: without it every call here would be refused.)"""
    with DatelineServer(api_keys=["sk-right"]) as server:
        source = write_jsonl(tmp_path / "requests.jsonl", [request(0)])
        refused = batch_cli(server.base_url, "submit", str(source), "--api-key", "sk-wrong")
        assert refused.exit_code == 1
        assert "authentication_error" in refused.stderr

        accepted = batch_cli(server.base_url, "submit", "-q", str(source), env={"ANTHROPIC_API_KEY": "sk-right"})
        assert accepted.exit_code == 0, accepted.stderr
        assert [batch["id"] for batch in list_batches(server.base_url, "sk-right")] == [accepted.stdout.strip()]


def test_as_a_real_command(served: DatelineServer, tmp_path: Path) -> None:
    """The shell's way: the id captured from -q, the base URL from the environment,
    and stdout nothing but the results' JSONL."""
    source = write_jsonl(tmp_path / "requests.jsonl", [request(i) for i in range(50)])
    dropped = ("DATELINE_", "ANTHROPIC_", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["ANTHROPIC_BASE_URL"] = served.base_url

    def dateline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dateline", "batch", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    submitted = dateline("submit", "-q", "--wait", "--poll-interval", "0.05", str(source))
    assert submitted.returncode == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    assert BATCH_ID.fullmatch(batch_id)
    assert submitted.stderr == ""

    fetched = dateline("results", batch_id)
    assert fetched.returncode == 0, fetched.stderr
    lines = result_lines(fetched.stdout)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"req-{i}" for i in range(50))
    assert fetched.stderr.strip() == "50 results: 50 succeeded, 0 errored, 0 canceled, 0 expired"

    missing = dateline("results", "msgbatch_nope")
    assert missing.returncode == 1
    assert "not_found_error: message_batch: msgbatch_nope" in missing.stderr
