"""A request's log line as ``logs.begin`` and ``logs.write`` make it: in JSON (the head's keys
first, then the fields', one parseable object a line), in text, through
``logging`` where Dateline did not set it up, and to a stream of text only."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import re
import sys
import time
from collections.abc import Iterator

import pytest

from dateline import logs

FIELDS = {"request_id": "req_1", "path": '/v1/"odd" path', "status": 200, "latency_ms": 0.234, "model": None}


@pytest.fixture
def chosen() -> Iterator[None]:
    """Restores what ``config`` leaves behind in the module and in ``logging``."""
    saved = (logs._chosen, logs._pid)
    loggers = [logging.getLogger(name) for name in logs._LOGGERS]
    kept = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    logs._chosen, logs._pid = saved
    for logger, handlers, level, propagate in kept:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def request(method: str, path: str, status: int, fields: dict[str, object]) -> None:
    """One request's line, as ``http/_observe.py`` writes it."""
    line = logs.begin(method, path, status, time.time())
    if line is not None:
        line.update(fields)
        logs.write(line)


def configure(kind: str) -> None:
    logging.config.dictConfig(logs.config(kind, "info"))


def test_json_lines_parse_with_the_head_first(chosen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    configure("json")
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", line_buffering=True)
    monkeypatch.setattr(sys, "stderr", stream)

    async def two_requests() -> None:
        request("POST", "/v1/messages", 200, FIELDS)
        request("GET", "/v1/models", 200, {"status": 200})
        await asyncio.sleep(0)  # their lines go out at the end of the loop's turn

    asyncio.run(two_requests())
    stream.flush()
    text = stream.buffer.getvalue().decode()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2 and text.endswith("\n")
    first = lines[0]
    assert list(first)[:5] == ["time", "level", "logger", "pid", "message"]
    assert first | {"time": None} == {
        "time": None,
        "level": "info",
        "logger": "dateline.request",
        "pid": os.getpid(),
        "message": "POST /v1/messages 200",
        **FIELDS,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])


def test_a_line_without_fields_is_still_one_object(chosen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    configure("json")
    stream = io.StringIO()  # text only: no binary buffer beneath
    monkeypatch.setattr(sys, "stderr", stream)
    request("GET", "/health", 200, {})  # outside an event loop: written at once
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "GET /health 200"
    assert set(json.loads(line)) == {"time", "level", "logger", "pid", "message"}


def test_text_lines_carry_name_value_pairs(chosen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    configure("text")
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    request("POST", "/v1/messages", 200, FIELDS)
    (line,) = stream.getvalue().splitlines()
    assert re.fullmatch(
        r"\S+Z INFO    dateline\.request: POST /v1/messages 200 "
        r'request_id=req_1 path="/v1/\\"odd\\" path" status=200 latency_ms=0\.234',
        line,
    )


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_without_config_the_line_goes_through_logging(chosen: None) -> None:
    logs._chosen = None
    kept = Kept()
    logger = logging.getLogger("dateline")
    logger.handlers[:] = [kept]
    logger.setLevel(logging.INFO)
    request("POST", "/v1/messages", 200, FIELDS)
    (record,) = kept.records
    assert record.getMessage() == "POST /v1/messages 200" and record.fields == FIELDS
    assert json.loads(logs.JSONFormatter().format(record))["path"] == FIELDS["path"]


def test_below_info_nothing_is_written(chosen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    logging.config.dictConfig(logs.config("json", "warning"))
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    request("POST", "/v1/messages", 200, FIELDS)
    assert stream.getvalue() == ""


def test_time_is_to_the_millisecond() -> None:
    assert logs._time(0.0) == "1970-01-01T00:00:00.000Z"
    assert logs._time(1_700_000_000.9996) == "2023-11-14T22:13:20.999Z"
    assert logs._time(86_400.5) == "1970-01-02T00:00:00.500Z"
