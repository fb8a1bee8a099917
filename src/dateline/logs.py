"""Log lines: one JSON object a line (``--log-format json``), or plain text,
for Dateline's own lines and uvicorn's alike.

A request's line (the ``dateline.request`` logger) is one dict made at the
request's end: its head (time, level, logger, pid, message) from ``begin``,
then its facts; in JSON it is written as it stands, in text as the head and
``name=value`` pairs. Where ``config`` set up logging (``dateline serve``),
``write`` sends it straight to stderr: going through ``logging`` (a record,
the caller's frame looked up, a formatter) costs more than the rest of a
request; the lines of one turn of the event loop go out in one write.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable
from itertools import islice
from typing import Any

import orjson

from .turns import AtTurnEnd

FORMATS = ("json", "text")
#: The logger of the one line per request.
REQUESTS = "dateline.request"
#: A request line's first keys, before its fields.
HEAD = ("time", "level", "logger", "pid", "message")
_requests = logging.getLogger(REQUESTS)
#: The loggers given the chosen format: uvicorn's and Dateline's.
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "dateline")


def default_format() -> str:
    """Text for a person at a terminal, JSON for whatever collects the output."""
    return "text" if sys.stderr.isatty() else "json"


#: The format ``config`` chose in this process (None: logging set up by someone else).
_chosen: str | None = None
_pid = os.getpid()
_last: list[Any] = [None, ""]  # the last millisecond formatted, and its text (lines come several a ms)


def _time(created: float) -> str:
    millis = int(created * 1000)
    if _last[0] != millis:
        seconds, part = divmod(millis, 1000)
        _last[:] = [millis, f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{part:03d}Z"]
    return _last[1]


def enabled() -> bool:
    """Whether request lines are written (``info`` and above)."""
    return _requests.isEnabledFor(logging.INFO)


def begin(method: str, path: str, status: int, created: float) -> dict[str, Any] | None:
    """A request's line, at ``info`` on the ``dateline.request`` logger, with its head
    (``HEAD``) filled in for its fields to be added before ``write``; None when request
    lines are not written (below ``info``). ``created``: when the request ended."""
    if not _requests.isEnabledFor(logging.INFO):
        return None
    return {
        "time": _time(created),
        "level": "info",
        "logger": REQUESTS,
        "pid": _pid,
        "message": f"{method} {path} {status}",
    }


def write(line: dict[str, Any]) -> None:
    """A line from ``begin``, its fields added: one JSON object as it stands, or text."""
    if _chosen == "json":
        data = orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE)
    elif _chosen is None:  # logging set up by someone else: through it
        _requests.info(line["message"], extra={"fields": dict(islice(line.items(), len(HEAD), None))})
        return
    else:
        fields = islice(line.items(), len(HEAD), None)
        data = f"{line['time']} INFO    {REQUESTS}: {line['message']} {_pairs(fields)}\n".encode()
    # The lines of requests ending in one turn of the event loop go out in one write, at its end.
    _pending.append(data)
    _flushing.soon()


_pending: list[bytes] = []


def _flush() -> None:
    if not _pending:
        return
    lines = b"".join(_pending)
    _pending.clear()
    stream = sys.stderr
    raw = getattr(stream, "buffer", None)
    if raw is None:  # a stream of text only (a test's capture, say)
        stream.write(lines.decode())
        return
    stream.flush()  # whatever the text layer holds goes first
    raw.write(lines)
    raw.flush()


_flushing = AtTurnEnd(_flush)


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
            text += " " + _pairs(fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _pairs(fields: Iterable[tuple[str, Any]]) -> str:
    return " ".join(f"{name}={_shown(value)}" for name, value in fields if value is not None)


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
