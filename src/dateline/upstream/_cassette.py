"""Record upstream exchanges to a cassette, and replay them offline.

Both are httpx transports, given to the upstream ``Clients``
(``Clients(lambda: RecordingTransport(path))``), so every upstream backend
records and replays the same way, whatever API it speaks.

A cassette is a JSON Lines file: one exchange per line, appended (and flushed)
when the exchange ends, so a server that is killed keeps what it recorded::

    {"request": {"method": "POST", "path": "/v1/messages",
                 "headers": {"anthropic-version": "2023-06-01", ...},
                 "json": {"model": "claude-sonnet-4-5", "max_tokens": 64, ...}},
     "response": {"status": 200, "headers": {"request-id": "req_...", ...},
                  "json": {"id": "msg_...", "type": "message", ...}}}

- ``path`` is the URL's path and query; ``headers`` are lower-case.
- No credential is kept (see ``_credentials``): headers that hold one
  (``authorization``, ``x-api-key``, ``api-key``, cookies, ...) are left out,
  the values of such query parameters are ``[redacted]``, and so is every
  credential the request carried wherever the response or an error quotes it.
- A body is ``"json"`` (parsed, written back compactly), ``"text"`` (exactly as
  sent) or ``"base64"``; an empty body has none of them.
- A streamed response (``text/event-stream``) keeps its chunks as they arrived,
  ``"chunks": ["event: message_start\\ndata: {...}\\n\\n", ...]``: each a
  string, or ``{"base64": ...}`` for bytes that are not UTF-8 on their own.
- ``"cut_short": "why"`` on a response marks a body that ended early: the
  connection broke (the reason is the error), or the reader stopped reading.
- An exchange that got no response at all has ``"error": {"type", "message"}``
  (an httpx error such as ``ConnectError``) in place of ``"response"``.

Replay answers a request whose method, path and body (JSON compared with sorted
keys) match a recorded one; identical recorded requests are answered in the
order recorded, the last one then repeating. Lines may be edited by hand: keep
each exchange on one line.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from ._credentials import credentials, is_credential, redact, redact_query, redact_text
from ._network import NetworkTransport

__all__ = ["NoRecordedExchange", "RecordingTransport", "ReplayTransport"]

#: How the recorded body was framed on the wire; replay frames its own.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
#: Appends from the transports of this process, one whole line at a time.
_write_lock = threading.Lock()


class NoRecordedExchange(Exception):
    """A request the cassette has no answer for (backends answer it with a 400)."""


class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards each request to ``inner`` and appends the exchange to the cassette at ``path``."""

    def __init__(self, path: Path, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.path = Path(path)
        self.inner = inner if inner is not None else NetworkTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Plain bodies keep the cassette readable (and editable): no gzip.
        request.headers["accept-encoding"] = "identity"
        secrets = credentials(request)
        recorded = {
            "method": request.method, "path": _target(request.url), "headers": _headers(request.headers, secrets)
        }
        recorded.update(_body(await request.aread()))
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            error = {"type": type(exc).__name__, "message": redact_text(str(exc), secrets)}
            self._append({"request": recorded, "error": error})
            raise

        def finish(chunks: list[bytes], cut_short: str | None) -> None:
            answer = _recorded_response(response, chunks, cut_short, secrets)
            self._append({"request": recorded, "response": answer})

        stream = _RecordingStream(response.stream, finish)  # type: ignore[arg-type]
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _append(self, exchange: dict[str, Any]) -> None:
        # One unbuffered write of the whole line to a file opened for appending:
        # lines from other transports (or worker processes) never interleave,
        # and a recorder that is killed leaves every finished exchange behind.
        line = (json.dumps(exchange, ensure_ascii=False) + "\n").encode("utf-8")
        with _write_lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)


class _RecordingStream(httpx.AsyncByteStream):
    """The response body, passed on chunk by chunk and kept for the cassette."""

    def __init__(self, inner: httpx.AsyncByteStream, finish: Callable[[list[bytes], str | None], None]) -> None:
        self._inner = inner
        self._finish = finish
        self._chunks: list[bytes] = []
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._chunks.append(chunk)
                yield chunk
        except httpx.TransportError as exc:
            self._record(f"{type(exc).__name__}: {exc}")
            raise
        self._record(None)

    async def aclose(self) -> None:
        self._record("closed by the reader before the end")
        await self._inner.aclose()

    def _record(self, cut_short: str | None) -> None:
        if not self._finished:
            self._finished = True
            self._finish(self._chunks, cut_short)


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers requests from the cassette at ``path``; never touches the network."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._exchanges: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for exchange in _load(self.path):
            self._exchanges.setdefault(_key(exchange["request"]), []).append(exchange)
        self._served: Counter[tuple[str, str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        wanted = {"method": request.method, "path": _target(request.url), **_body(await request.aread())}
        key = _key(wanted)
        found = self._exchanges.get(key)
        if not found:
            raise NoRecordedExchange(self._unmatched(wanted))
        exchange = found[min(self._served[key], len(found) - 1)]
        self._served[key] += 1
        if "error" in exchange:
            raise _transport_error(exchange["error"], request)
        return _replayed_response(exchange["response"], request)

    def _unmatched(self, wanted: dict[str, Any]) -> str:
        body = wanted.get("json")
        model = body.get("model") if isinstance(body, dict) else None
        what = f"{wanted['method']} {wanted['path']}" + (f", model {json.dumps(model)}" if model is not None else "")
        return f"No recorded upstream exchange matches this request ({what}) in cassette {self.path}"


# -- recording -----------------------------------------------------------------


def _target(url: httpx.URL) -> str:
    return redact_query(url.raw_path.decode("ascii"))


def _headers(headers: httpx.Headers, secrets: list[bytes]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in headers.multi_items():
        if not is_credential(name):
            value = redact_text(value, secrets)
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def _body(data: bytes) -> dict[str, Any]:
    if not data:
        return {}
    try:
        return {"json": json.loads(data)}
    except ValueError:  # not JSON, or not UTF-8
        pass
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _chunk(data: bytes) -> str | dict[str, str]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # e.g. a character split between two chunks
        return {"base64": base64.b64encode(data).decode("ascii")}


def _recorded_response(
    response: httpx.Response, chunks: list[bytes], cut_short: str | None, secrets: list[bytes]
) -> dict[str, Any]:
    recorded: dict[str, Any] = {"status": response.status_code, "headers": _headers(response.headers, secrets)}
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        recorded["chunks"] = [_chunk(chunk) for chunk in _redacted_chunks(chunks, secrets)]
    else:
        recorded.update(_body(redact(b"".join(chunks), secrets)))
    if cut_short is not None:
        recorded["cut_short"] = redact_text(cut_short, secrets)
    return recorded


def _redacted_chunks(chunks: list[bytes], secrets: list[bytes]) -> list[bytes]:
    """The chunks with the credentials blanked out; one split between chunks
    is found only in the whole, which is then kept as one chunk."""
    chunks = [redact(chunk, secrets) for chunk in chunks]
    whole = b"".join(chunks)
    return [redact(whole, secrets)] if any(secret in whole for secret in secrets) else chunks


# -- replaying -----------------------------------------------------------------


def _load(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    exchanges = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            exchange = json.loads(line)
        except ValueError as exc:
            if number == len(lines):
                break  # the last line, left half-written by a recorder that was killed
            raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from None
        if not isinstance(exchange, dict) or "request" not in exchange:
            raise ValueError(f'{path}:{number}: an exchange needs a "request"')
        exchanges.append(exchange)
    return exchanges


def _key(request: dict[str, Any]) -> tuple[str, str, str]:
    if "json" in request:
        body = "json:" + json.dumps(request["json"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif "text" in request:
        body = "text:" + request["text"]
    else:
        body = "base64:" + request.get("base64", "")
    # Recorded paths have their credentials blanked out (older cassettes may not): compare them so.
    return request["method"].upper(), redact_query(request["path"]), body


def _replayed_response(recorded: dict[str, Any], request: httpx.Request) -> httpx.Response:
    headers = [(name, value) for name, value in recorded.get("headers", {}).items() if name not in _FRAMING]
    if "chunks" in recorded:
        chunks = [_bytes(chunk) for chunk in recorded["chunks"]]
    else:
        chunks = [_bytes(recorded)] if any(k in recorded for k in ("json", "text", "base64")) else []
    stream = _ReplayStream(chunks, recorded.get("cut_short"), request)
    return httpx.Response(recorded["status"], headers=headers, stream=stream, request=request)


def _bytes(body: str | dict[str, Any]) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if "json" in body:
        return json.dumps(body["json"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if "text" in body:
        return body["text"].encode("utf-8")
    return base64.b64decode(body["base64"])


class _ReplayStream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes], cut_short: str | None, request: httpx.Request) -> None:
        self._chunks = chunks
        self._cut_short = cut_short
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._cut_short is not None:
            # As the recorded reader saw it: the body breaks off here.
            message = f"The recorded response was cut short ({self._cut_short})"
            raise httpx.RemoteProtocolError(message, request=self._request)


def _transport_error(recorded: dict[str, Any], request: httpx.Request) -> httpx.TransportError:
    cls = getattr(httpx, str(recorded.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, httpx.TransportError)):
        cls = httpx.TransportError
    return cls(recorded.get("message", ""), request=request)
