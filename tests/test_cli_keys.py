"""``dateline keys``: a key made by the CLI works against servers on the same
database at once, its secret is printed once and found nowhere else (the
database, the servers' logs, the request log, list and show), and revoked by
the CLI it fails on two ``dateline serve`` processes within a second."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from processes import Served, clean_env, dateline_command
from typer.testing import CliRunner

from dateline.cli import app

MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
TEMPERATURE = {**MESSAGE, "temperature": 0.5}


def keys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dateline_command(), "keys", *args], capture_output=True, text=True, timeout=60, env=clean_env()
    )


def call(served: Served, secret: str, body: dict = MESSAGE, version: str | None = "2023-06-01") -> int:
    headers = {"x-api-key": secret, **({"anthropic-version": version} if version else {})}
    return httpx.post(f"{served.base_url}/v1/messages", json=body, headers=headers, timeout=30).status_code


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[str, list[Served]]]:
    """Two ``dateline serve`` processes on one database (SQLite, then PostgreSQL), logging at debug."""
    flags = ["--database-url", database_url, "--log-level", "debug"]
    started = [Served(tmp_path / f"serve-{i}.log", *flags, "--data-dir", str(tmp_path / f"d{i}")) for i in range(2)]
    try:
        for served in started:
            served.wait_ready()
        yield database_url, started
    finally:
        for served in started:
            served.stop()


def test_a_cli_key_works_on_every_replica_and_revoked_fails_within_a_second(replicas, tmp_path: Path):
    url, servers = replicas
    made = keys("create", "ci", "--database-url", url, "-q")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert made.stdout == secret + "\n" and made.stderr == ""
    made_at = time.monotonic()
    for served in servers:
        assert call(served, secret) == 200  # at once, though made by another process
        # Keys exist now: within a second no other key goes (the servers read the keys twice a second).
        while call(served, "sk-ant-guess") != 401:
            assert time.monotonic() - made_at < 1.0, "another key still works a second later"
            time.sleep(0.02)
        assert call(served, secret) == 200
        entries = httpx.get(f"{served.base_url}/_dateline/requests", timeout=30).text
        assert secret not in entries and secret[16:-4] not in entries
    key_id = keys("list", "--database-url", url).stdout.splitlines()[1].split("\t")[0]
    revoked = keys("revoke", key_id, "--database-url", url)
    assert revoked.returncode == 0 and f"{key_id} (ci) revoked" in revoked.stdout
    since = time.monotonic()
    waiting = list(servers)
    while waiting:
        waiting = [served for served in waiting if call(served, secret) != 401]
        assert time.monotonic() - since < 1.0, "a revoked key still works a second later"
        time.sleep(0.02)
    for served in servers:
        served.stop()
        log = served.log_path.read_text(errors="replace")
        assert "GET" in log or "Uvicorn" in log or "Application" in log  # the log is there to search
        assert secret not in log and secret[16:-4] not in log
    if url.startswith("sqlite"):
        data = b"".join(path.read_bytes() for path in tmp_path.glob("dateline.db*"))
        assert data and secret.encode() not in data and secret[16:-4].encode() not in data


def test_a_pin_set_by_the_cli_reaches_a_running_server(tmp_path: Path):
    server = Served(tmp_path / "serve.log", "--data-dir", str(tmp_path))
    try:
        server.wait_ready()
        secret = keys("create", "pinned", "--data-dir", str(tmp_path), "-q").stdout.strip()
        assert call(server, secret, TEMPERATURE, version=None) == 400  # no pin: the header is required
        key_id = keys("list", "--data-dir", str(tmp_path)).stdout.splitlines()[1].split("\t")[0]
        updated = keys("update", key_id, "--default-version", "2023-06-01", "--data-dir", str(tmp_path))
        assert updated.returncode == 0, updated.stderr
        deadline = time.monotonic() + 1.0
        while call(server, secret, TEMPERATURE, version=None) != 200:
            assert time.monotonic() < deadline, "the pin did not arrive within a second"
            time.sleep(0.02)
    finally:
        server.stop()


# --- the commands themselves, in process ---------------------------------------------------

runner = CliRunner()


def invoke(tmp_path: Path, *args: str):
    return runner.invoke(app, ["keys", *args, "--data-dir", str(tmp_path)], env={"COLUMNS": "300"})


def test_create_prints_the_secret_once_and_nothing_shows_it_again(tmp_path: Path):
    made = invoke(
        tmp_path,
        "create", "team",
        "--workspace", "wrkspc_1",
        "--rpm", "50", "--itpm", "30000", "--otpm", "8000",
        "--model-limit", "claude-opus-*:rpm=5,otpm=1000",
        "--unified-5h", "100000", "--unified-7d", "1000000",
        "--allow-model", "claude-*", "--allow-model", "gpt-*",
        "--spend-limit", "12.5",
        "--default-version", "2023-06-01",
        "--accept-version", "2023-06-01", "--accept-version", "2026-10-21",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-ant-api03-") and made.stdout.count(secret) == 1
    assert "shown this once" in made.stderr and secret not in made.stderr
    listed = invoke(tmp_path, "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["id", "name", "key"]
    row = lines[1].split("\t")
    assert row[1:5] == ["team", f"{secret[:16]}...{secret[-4:]}", "wrkspc_1", "active"]
    assert row[7] == "rpm 50 · itpm 30,000 · otpm 8,000 +1 classes" and row[8] == "claude-*, gpt-*"
    shown = invoke(tmp_path, "show", row[0])
    details = dict(line.split("\t", 1) for line in shown.stdout.splitlines())
    assert details["  claude-opus-*"] == "rpm 5 · otpm 1,000"
    assert details["unified windows"] == "5h 100,000 · 7d 1,000,000"
    assert details["spend limit"] == "$12.50" and details["default version"] == "2023-06-01"
    assert details["accepted versions"] == "2023-06-01, 2026-10-21" and details["status"] == "active"
    for output in (listed.output, shown.output):
        assert secret not in output and secret[16:-4] not in output


def test_update_changes_and_clears_settings(tmp_path: Path):
    made = invoke(tmp_path, "create", "k", "--rpm", "50", "--spend-limit", "5", "--model-limit", "a-*:rpm=1", "-q")
    key_id = invoke(tmp_path, "list").stdout.splitlines()[1].split("\t")[0]
    assert made.exit_code == 0
    changed = invoke(tmp_path, "update", key_id, "--name", "renamed", "--otpm", "9", "--clear", "spend-limit")
    details = dict(line.split("\t", 1) for line in changed.stdout.splitlines())
    assert details["name"] == "renamed" and details["rate limits"] == "rpm 50 · otpm 9"
    assert details["spend limit"] == "none" and details["  a-*"] == "rpm 1"
    cleared = invoke(tmp_path, "update", key_id, "--clear", "rpm", "--clear", "model-limits")
    details = dict(line.split("\t", 1) for line in cleared.stdout.splitlines())
    assert details["rate limits"] == "otpm 9" and "  a-*" not in details
    assert invoke(tmp_path, "revoke", key_id).exit_code == 0
    assert invoke(tmp_path, "list", "--status", "active").stdout.splitlines()[1:] == []
    assert invoke(tmp_path, "list", "--status", "revoked").stdout.splitlines()[1].startswith(key_id)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("create", "k", "--rpm", "0"),
            2,
            "rate_limits.requests_per_minute: Input should be greater than or equal to 1",
        ),
        (("create", "k", "--default-version", "2099-01-01"), 2, 'default_version: "2099-01-01" is not a valid version'),
        (
            ("create", "k", "--model-limit", "claude-*"),
            2,
            "--model-limit 'claude-*': expected GLOB:rpm=N,itpm=N,otpm=N",
        ),
        (("create", "k", "--model-limit", "x:rpm=1,tpm=2"), 2, "expected GLOB:rpm=N,itpm=N,otpm=N"),
        (("show", "apikey_nope"), 1, "no API key with id apikey_nope"),
        (("revoke", "apikey_nope"), 1, "no API key with id apikey_nope"),
        (("update", "apikey_nope", "--rpm", "1"), 1, "no API key with id apikey_nope"),
        (("update", "apikey_nope"), 2, "nothing to change"),
        (("update", "apikey_nope", "--clear", "everything"), 2, "--clear everything: give one of workspace, rpm"),
        (("list", "--status", "archived"), 2, "--status: give active or revoked"),
    ],
)
def test_bad_input_is_reported_plainly(tmp_path: Path, args, code, message):
    result = invoke(tmp_path, *args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output


def test_an_unreachable_database_is_reported_plainly():
    result = keys("list", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2 and "cannot open the database" in result.stderr
    assert "Traceback" not in result.stderr
