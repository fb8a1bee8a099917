"""Log lines: one JSON object a line (``--log-format json``), or plain text,
for Dateline's own lines and uvicorn's alike.

A request's line (the ``dateline.request`` logger) carries its facts as
``fields``, a dict made once at the request's end: the JSON formatter writes
them beside the time and level, the text formatter as ``name=value`` pairs.
Where ``config`` set up logging (``dateline serve``), ``request`` writes that
line straight to stderr, built once: going through ``logging`` (a record, the
caller's frame looked up, a formatter) costs more than the rest of a request;
the lines of one turn of the event loop go out in one write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

import orjson

FORMATS = ("json", "text")
#: The logger of the one line per request.
REQUESTS = "dateline.request"
_requests = logging.getLogger(REQUESTS)
#: The loggers given the chosen format: uvicorn's and Dateline's.
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "dateline")


def default_format() -> str:
    """Text for a person at a terminal, JSON for whatever collects the output."""
    return "text" if sys.stderr.isatty() else "json"


#: The format ``config`` chose in this process (None: logging set up by someone else).
_chosen: str | None = None
_pid = os.getpid()
_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def _time(created: float) -> str:
    seconds = int(created)
    if _second[0] != seconds:
        _second[:] = [seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))]
    return f"{_second[1]}.{int((created - seconds) * 1000):03d}Z"


def request(message: str, fields: dict[str, Any]) -> None:
    """One request's line, at ``info`` on the ``dateline.request`` logger."""
    if not _requests.isEnabledFor(logging.INFO):
        return
    if _chosen is None:
        _requests.info(message, extra={"fields": fields})
        return
    now = time.time()
    if _chosen == "json":
        head = {"time": _time(now), "level": "info", "logger": REQUESTS, "pid": _pid, "message": message}
        line = orjson.dumps({**head, **fields}, default=str).decode()
    else:
        line = f"{_time(now)} INFO    {REQUESTS}: {message} " + _pairs(fields)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        sys.stderr.write(line + "\n")
        return
    # The lines of requests ending in one turn of the event loop go out in one write, at its end.
    _pending.append(line)
    if len(_pending) == 1:
        loop.call_soon(_flush)


_pending: list[str] = []


def _flush() -> None:
    text = "\n".join(_pending) + "\n"
    _pending.clear()
    sys.stderr.write(text)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``kind`` (dictConfig's factory): the process now writes request lines alike."""
    global _chosen, _pid
    _chosen, _pid = kind, os.getpid()
    return JSONFormatter() if kind == "json" else TextFormatter()


class JSONFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …fields, "exc_info"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which worker, with --workers N
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message name=value…``, and a traceback below when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_time(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + _pairs(fields)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _pairs(fields: dict[str, Any]) -> str:
    return " ".join(f"{name}={_shown(value)}" for name, value in fields.items() if value is not None)


def _shown(value: Any) -> str:
    text = str(value)
    return text if text and " " not in text and '"' not in text else orjson.dumps(text).decode()


def config(log_format: str, level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` uvicorn applies in each process it serves from."""
    loggers: dict[str, Any] = {name: {"handlers": ["stderr"], "propagate": False} for name in _LOGGERS}
    # uvicorn sets its own loggers' levels from --log-level; Dateline's follow the same flag.
    loggers["dateline"]["level"] = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"chosen": {"()": f"{__name__}.formatter", "kind": log_format}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "chosen", "stream": "ext://sys.stderr"}},
        "loggers": loggers,
    }
