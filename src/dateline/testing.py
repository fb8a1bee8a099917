"""Dateline as a test double: a server for your test suite, and a pytest plugin.

With ``dateline`` installed, pytest offers the ``dateline`` fixture (the
plugin is registered under the ``pytest11`` entry point, nothing to
configure)::

    def test_retries(dateline):
        dateline.fail("overloaded_error", times=2)
        client = anthropic.Anthropic(base_url=dateline.base_url, api_key="test")
        client.messages.create(model="claude-sonnet-4-6", max_tokens=64,
                               messages=[{"role": "user", "content": "Hi"}])
        assert [r["status"] for r in dateline.requests()] == [529, 529, 200]

The server runs in a thread of the test process on a free port, once per
session (``dateline_server``); each test starts with the rules the server
started with (none by default) and an empty request log.

Without pytest, ``DatelineServer`` is a context manager::

    with DatelineServer() as server:
        server.script([{"reply": {"text": "Hello!"}}])
        ...  # point a client at server.base_url

See docs/testing.md for a worked example.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .backends import Backend
    from .script import Script
    from .settings import Settings
    from .state import State

try:
    import pytest
except ImportError:  # DatelineServer needs no pytest; only the fixtures do
    pytest = None  # type: ignore[assignment]

__all__ = ["DatelineServer"]


class DatelineServer:
    """A Dateline serving in a background thread, with handles on its rules and request log.

    ``options`` are settings (see ``dateline.Settings``): ``api_keys``,
    ``token_delay``, ``script`` (a rules file loaded at start), ``admin_token``,
    ``request_log_size``, ``signing_key``, ``batch_expiry``, upstreams
    (``openai_upstream``, ``anthropic_upstream``, ``config``, ``record``,
    ``replay``)… Batches and files go to a temporary directory of the server's
    own unless ``data_dir`` or ``database_url`` is given. ``DATELINE_*``
    environment variables are not read, so a test server behaves the same on
    every machine. The server listens on 127.0.0.1, on a free port.
    """

    def __init__(self, settings: Settings | None = None, *, backend: Backend | None = None, **options: Any) -> None:
        from .app import create_app
        from .http import server_options

        values = settings.model_dump() if settings is not None else {}
        values = {**values, **options}
        # Batches and files go to a fresh directory of their own unless told otherwise.
        self._data_dir: tempfile.TemporaryDirectory[str] | None = None
        if values.get("data_dir") is None and values.get("database_url") is None:
            self._data_dir = tempfile.TemporaryDirectory(prefix="dateline-")
            values["data_dir"] = self._data_dir.name
        self.settings = _isolated_settings()(**values)
        self.app: Starlette = create_app(self.settings, backend=backend)
        self._initial_rules = self.state.scripter.script
        # As `dateline serve` runs it: over-large request heads refused as they arrive.
        self._served = AppThread(self.app, "dateline", lifespan="on", **server_options())
        self.port: int = self._served.port

    def __repr__(self) -> str:
        return f"<DatelineServer {self.base_url}>"

    @property
    def base_url(self) -> str:
        """Give it to a client: ``anthropic.Anthropic(base_url=server.base_url, api_key=...)``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> State:
        return self.app.state.dateline

    # -- running ---------------------------------------------------------------

    def start(self) -> Self:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()
        if self._data_dir is not None:
            self._data_dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rules -----------------------------------------------------------------

    def script(self, rules: Any) -> None:
        """Replace the rules.

        ``rules``: a list of rule dicts (or ``{"rules": [...]}``), the text of a
        YAML or JSON rules file, or a ``pathlib.Path`` to one. A bad rule raises
        ``dateline.script.ScriptError`` naming the rule and field; the rules in
        place are then kept.
        """
        self.state.scripter.load(_to_script(rules))

    def fail(
        self,
        error: str | None = "overloaded_error",
        *,
        times: int | None = 1,
        match: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        after_events: int | None = None,
        message: str | None = None,
        **fault: Any,
    ) -> None:
        """Answer the next ``times`` matching requests with ``error``, ahead of every other rule.

        ``times=None`` fails every matching request. ``match`` takes a rule's
        match fields (``{"model": "claude-opus-*"}``, ``{"endpoint": "messages"}``…).
        ``retry_after`` (seconds) is sent as the ``retry-after`` header;
        ``after_events=N`` lets a stream send N events before the error (a
        request that does not stream gets the error at once). ``fault`` takes the
        other fault fields: ``disconnect_after_events``, ``first_token_delay``,
        ``token_delay``.
        """
        from .script import ScriptError, parse

        spec = {"retry_after": retry_after, "after_events": after_events, "message": message, **fault}
        rule: dict[str, Any] = {
            "name": f"fail {error}" if error else "fail",
            "match": dict(match or {}),
            "fault": {"error": error, **{k: v for k, v in spec.items() if v is not None}},
        }
        if times is not None:
            rule["times"] = times
        try:
            parsed = parse([rule]).rules[0]
        except ScriptError as exc:
            raise ScriptError(f"fail({error!r}): {str(exc).partition(', ')[2] or exc}") from None
        self.state.scripter.prepend(parsed)

    # -- request log -----------------------------------------------------------

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """The requests received so far, oldest first, optionally only those to ``path`` (``"/v1/messages"``).

        Each entry has ``method``, ``path``, ``status``, ``headers``, ``body`` (the
        JSON request body), ``api_key``, ``version``, ``betas``, ``request_id``,
        ``time``, and ``rule`` (``{"index", "name"}`` of the rule that answered,
        or None).
        """
        entries = self.state.log.entries()
        if path is not None:
            entries = [entry for entry in entries if entry["path"] == path]
        return entries

    def reset(self) -> None:
        """Back to the rules the server started with (none unless ``script=`` was given), and an empty log."""
        self.state.scripter.load(self._initial_rules)
        self.state.log.clear()


def _to_script(rules: Any) -> Script:
    from .script import Script, ScriptError, load, loads, parse

    if isinstance(rules, Script):
        return rules
    if isinstance(rules, os.PathLike):
        return load(rules)
    if isinstance(rules, (str, bytes)):
        text = rules.decode() if isinstance(rules, bytes) else rules
        if "\n" not in text.strip() and text.strip().endswith((".yaml", ".yml", ".json")):
            raise ScriptError(
                f"{text.strip()!r} is taken as the text of the rules, not a file name; "
                "pass a pathlib.Path to read a rules file"
            )
        return loads(text)
    return parse(list(rules) if isinstance(rules, tuple) else rules)


@cache
class AppThread:
    """An ASGI app served by uvicorn in a daemon thread, on a free loopback port
    (for a test server of any kind: Dateline, or a fake upstream)."""

    def __init__(self, app: Any, name: str, **config: Any) -> None:
        import uvicorn

        self.name = name
        # Hold the port from here on: nothing else can take it before the server starts.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", **config)
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"{name}:{self.port}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()


def _isolated_settings() -> type[Settings]:
    """``Settings`` that come from arguments only, never from the environment."""
    from .settings import Settings

    class TestSettings(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls: Any, init_settings: Any, **sources: Any) -> tuple[Any, ...]:
            return (init_settings,)

    return TestSettings


if pytest is not None:

    @pytest.fixture(scope="session")
    def dateline_server() -> Iterator[DatelineServer]:
        """One Dateline for the whole test session (override it to pass options)."""
        with DatelineServer() as server:
            yield server

    @pytest.fixture
    def dateline(dateline_server: DatelineServer) -> Iterator[DatelineServer]:
        """The session's Dateline, with its starting rules and an empty request log for this test."""
        dateline_server.reset()
        yield dateline_server
        dateline_server.reset()
