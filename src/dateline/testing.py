"""Dateline as a test double: a server for your test suite, and a pytest plugin.

With ``dateline`` installed, pytest offers the ``dateline`` fixture::

    def test_retries(dateline):
        dateline.fail("overloaded_error", times=2)
        client = anthropic.Anthropic(base_url=dateline.base_url, api_key="test")
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                               messages=[{"role": "user", "content": "Hi"}])
        assert [r["status"] for r in dateline.requests()] == [529, 529, 200]

The server runs in a thread of the test process on a free port; each test
starts with no rules and an empty request log.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from .app import State, create_app
from .script import Script, loads, parse
from .settings import Settings


class DatelineServer:
    """A running Dateline, with handles on its rules and request log."""

    def __init__(self, settings: Settings | None = None, **app_kwargs: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app = create_app(settings or Settings(), **app_kwargs)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="dateline", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> State:
        return self.app.state.dateline

    def start(self) -> DatelineServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Dateline did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> DatelineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, rules: list[dict[str, Any]] | str) -> None:
        """Replace the rules: a list of rule dicts, or the text of a YAML/JSON rules file."""
        loaded = loads(rules) if isinstance(rules, str) else parse(rules)
        self.state.scripter.load(loaded)

    def fail(
        self,
        error: str = "overloaded_error",
        *,
        times: int | None = 1,
        match: dict[str, Any] | None = None,
        **fault: Any,
    ) -> None:
        """Answer matching requests with ``error`` (the first ``times`` of them), ahead of other rules.

        ``fault`` takes the other fault fields: ``message``, ``retry_after``,
        ``after_events`` (fail a stream after that many events), ``first_token_delay``…
        """
        rule = {"name": f"fail {error}", "match": match or {}, "fault": {"error": error, **fault}}
        if times is not None:
            rule["times"] = times
        current = self.state.scripter.script.rules
        self.state.scripter.load(Script(rules=[parse([rule]).rules[0], *current]))

    def requests(self) -> list[dict[str, Any]]:
        """The requests received so far, oldest first."""
        return self.state.log.entries()

    def reset(self) -> None:
        """No rules, empty log."""
        self.state.scripter.reset()
        self.state.log.clear()


@pytest.fixture(scope="session")
def dateline_server() -> Iterator[DatelineServer]:
    """One Dateline for the whole test session."""
    with DatelineServer() as server:
        yield server


@pytest.fixture
def dateline(dateline_server: DatelineServer) -> Iterator[DatelineServer]:
    """The session's Dateline, with no rules and an empty request log for this test."""
    dateline_server.reset()
    yield dateline_server
    dateline_server.reset()
