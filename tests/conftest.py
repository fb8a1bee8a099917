"""Fixtures: a real Dateline server on a free port, and clients for it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
import uvicorn

from dateline import Settings, create_app, errors
from dateline.backends import Backend
from dateline.types import Event


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving a Dateline app in a background thread of the test process."""

    def __init__(self, settings: Settings | None = None, **app_kwargs) -> None:
        self.port = free_port()
        app = create_app(settings or Settings(), **app_kwargs)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


@pytest.fixture(scope="session")
def base_url(server: ServerThread) -> str:
    return server.base_url


@pytest.fixture
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    """The official SDK as today's users run it (version 2026-10-21, Bearer auth)."""
    with anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, _strict_response_validation=True
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
