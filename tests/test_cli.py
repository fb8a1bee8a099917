"""The ``dateline`` command, run as users run it: the installed console script in
a real subprocess, talked to with the official SDK."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from conftest import free_port
from processes import Served, clean_env, dateline_command

from dateline.versions import VERSIONS

MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "user", "content": "Tell me about tide pools"}]


# --- dateline versions ------------------------------------------------------------------


def declared_history() -> list[tuple[str, list[str]]]:
    """What the version declarations say, oldest first, read off the objects themselves."""
    history = []
    for version in reversed(list(VERSIONS)):
        lines = [version.description] if version.description else []
        history.append((version.date, lines + [change.description for change in version.changes]))
    return history


def test_declarations_have_something_to_print():
    history = declared_history()
    assert [date for date, _ in history] == sorted(date for date, _ in history)
    assert {"2023-01-01", "2023-06-01", "2026-10-21"} <= {date for date, _ in history}
    assert sum(len(lines) for _, lines in history) >= 6
    assert all(lines for _, lines in history)


def test_versions_prints_the_declared_history():
    result = subprocess.run(
        [dateline_command(), "versions"], capture_output=True, text=True, timeout=60, env=clean_env(COLUMNS="40")
    )
    assert result.returncode == 0, result.stderr
    printed: list[tuple[str, list[str]]] = []
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        if line.startswith("  - "):
            printed[-1][1].append(line[len("  - ") :])
        else:
            printed.append((line.strip(), []))
    # Every date and every description, whole (no wrapping at 40 columns), in date order.
    assert printed == declared_history()


def test_versions_on_a_terminal_is_a_table():
    # Under a real terminal the history is a table; wide enough, no description is wrapped.
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(
            [dateline_command(), "versions"], stdin=child, stdout=child, stderr=child,
            env=clean_env(COLUMNS="400", LINES="50", TERM="xterm"), close_fds=True,
        )
        os.close(child)
        out = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closes when the command exits
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(main)
    text = out.decode()
    assert "┃" in text or "|" in text  # drawn as a table
    positions = []
    for date, lines in declared_history():
        assert date in text
        positions.append(text.index(date))
        for line in lines:
            assert line in text
    assert positions == sorted(positions)


# --- dateline serve ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def start(tmp_path_factory) -> Iterator:
    """Start ``dateline serve`` subprocesses; every one is terminated when the module ends."""
    started: list[Served] = []

    def run(*args: str, env: dict[str, str] | None = None, port: int | None = None) -> Served:
        log = tmp_path_factory.mktemp("serve") / "output.log"
        served = Served(log, *args, env=env, port=port)
        started.append(served)
        return served

    try:
        yield run
    finally:
        for served in started:
            served.stop()


@pytest.fixture(scope="module")
def plain(start) -> Served:
    return start().wait_ready()


@pytest.fixture(scope="module")
def restricted(start) -> Served:
    # Flags win over the environment: the env's port and key must both be ignored.
    env_port = free_port()
    env = clean_env(DATELINE_PORT=str(env_port), DATELINE_API_KEYS='["sk-env"]')
    served = start("--api-key", "sk-one", "--api-key", "sk-two", "--token-delay", "0.02", env=env).wait_ready()
    served.env_port = env_port
    return served


def official(served: Served, api_key: str = "sk-ant-test") -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=served.base_url, api_key=api_key, max_retries=0, timeout=30, _strict_response_validation=True
    )


def test_serve_answers_the_sdk(plain):
    with official(plain) as client:
        message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        assert message.type == "message" and message.role == "assistant"
        assert message.content[0].type == "text" and message.content[0].text
        assert message.stop_reason in ("end_turn", "max_tokens")
        assert message._request_id and message._request_id.startswith("req_")

        with client.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
            texts = list(stream.text_stream)
            final = stream.get_final_message()
        assert "".join(texts) == final.content[0].text
        # Deterministic: the stream tells the same answer as the plain request.
        assert final.content[0].text == message.content[0].text
        assert final.usage.output_tokens == message.usage.output_tokens

        counted = client.messages.count_tokens(model=MODEL, messages=HELLO)
        assert counted.input_tokens == message.usage.input_tokens > 0


def test_serve_accepts_any_key_by_default(plain):
    with official(plain, "sk-whatever") as client:
        assert client.models.retrieve(MODEL).id.startswith("claude-sonnet-4-5")


def test_port_flag_wins_over_the_env(restricted):
    assert restricted.proc.poll() is None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{restricted.env_port}/v1/models", timeout=2)


def test_api_key_flag_restricts_keys(restricted):
    for key in ("sk-one", "sk-two"):
        with official(restricted, key) as client:
            assert client.messages.count_tokens(model=MODEL, messages=HELLO).input_tokens > 0
    for key in ("sk-env", "sk-three", "sk-ant-test"):
        with official(restricted, key) as client, pytest.raises(anthropic.AuthenticationError) as info:
            client.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
        assert info.value.body["error"] == {"type": "authentication_error", "message": "Invalid bearer token"}  # the SDK sends Bearer
    raw = httpx.post(
        f"{restricted.base_url}/v1/messages",
        headers={"x-api-key": "sk-two", "anthropic-version": "2023-06-01"},
        json={"model": MODEL, "max_tokens": 8, "messages": HELLO},
        timeout=30,
    )
    assert raw.status_code == 200


def test_token_delay_flag_slows_streams(restricted):
    with official(restricted, "sk-one") as client:
        started = time.monotonic()
        with client.messages.stream(model=MODEL, max_tokens=20, messages=HELLO) as stream:
            final = stream.get_final_message()
        elapsed = time.monotonic() - started
    assert final.usage.output_tokens == 20 and final.stop_reason == "max_tokens"
    assert elapsed >= 0.3, elapsed  # 20 tokens at 0.02 s each


def test_serve_stops_on_terminate(start):
    served = start().wait_ready()
    served.proc.terminate()
    # uvicorn shuts down gracefully, then exits by the signal it was sent.
    assert served.proc.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Traceback" not in served.output()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.base_url}/v1/models", timeout=2)


def test_serve_help_lists_its_flags():
    result = subprocess.run(
        [dateline_command(), "serve", "--help"], capture_output=True, text=True, timeout=60,
        env=clean_env(COLUMNS="200", NO_COLOR="1", TERM="dumb"),
    )
    assert result.returncode == 0
    for flag in ("--host", "--port", "--api-key", "--token-delay", "--workers", "--log-level"):
        assert flag in result.stdout


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "dateline", "versions"], capture_output=True, text=True,
                            timeout=60, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == declared_history()[0][0]
