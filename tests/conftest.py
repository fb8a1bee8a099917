"""Fixtures: a real Dateline server on a free port, and clients for it."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from dateline import errors
from dateline.backends import Backend
from dateline.testing import DatelineServer
from dateline.types import Event

pytest_plugins = ["postgres", "llama", "redis_server"]  # tests/postgres.py, tests/llama.py, tests/redis_server.py; tests/ is on sys.path, as for `from conftest import`


# Servers started without a data dir (`dateline serve` in a subprocess) keep
# their state under XDG_DATA_HOME: a directory of this test run's own.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="dateline-tests-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The server tests run against is the one users get from the pytest plugin.
ServerThread = DatelineServer


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


@pytest.fixture(scope="session")
def base_url(server: ServerThread) -> str:
    return server.base_url


@pytest.fixture(scope="module")
def served() -> Iterator[ServerThread]:
    """A server of the module's own, for tests that load rules or read the log."""
    with ServerThread() as running:
        yield running


@pytest.fixture
def admin(served: ServerThread) -> Iterator[httpx.Client]:
    """The admin API of ``served``; the test starts with an empty log and leaves no rules."""
    with httpx.Client(base_url=served.base_url, timeout=10) as raw:
        raw.delete("/_dateline/requests")
        yield raw
        raw.delete("/_dateline/rules")
        raw.delete("/_dateline/requests")


@pytest.fixture
def rules(admin: httpx.Client):
    """Load rules into ``served`` through the admin API."""

    def load(data: list[dict[str, Any]]) -> dict[str, Any]:
        response = admin.put("/_dateline/rules", json=data)
        assert response.status_code == 200, response.text
        return response.json()

    return load


@pytest.fixture
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    """The official SDK as today's users run it (version 2026-10-21, Bearer auth)."""
    with anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, timeout=30, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    """Raw HTTP, as Claude Code and older SDKs send it (x-api-key, 2023-06-01)."""
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as raw:
        yield raw


class FailingBackend(Backend):
    """Says a few words, then is overloaded; with "early" in the prompt, fails before a word."""

    name = "failing"

    async def messages(self, request: dict[str, Any], *, stream: bool):
        if "early" in json.dumps(request["messages"]):
            raise errors.OverloadedError()
        yield Event("message_start", {"type": "message_start", "message": {}})
        for text in ("Tide", " pools"):
            delta = {"type": "text_delta", "text": text}
            yield Event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        raise errors.OverloadedError()

    async def count_tokens(self, request: dict[str, Any]) -> int:
        return 1




def sse_events(text: str) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event name or None, data) pairs, exactly as framed."""
    events = []
    for chunk in text.split("\n\n"):
        if not chunk:
            continue
        name, data = None, None
        for line in chunk.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
            else:
                raise AssertionError(f"unexpected SSE line: {line!r}")
        events.append((name, data))
    return events
