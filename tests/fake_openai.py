"""A scriptable OpenAI-compatible upstream, for tests and benchmarks.

``FakeOpenAI`` serves ``/v1/chat/completions`` (JSON, and SSE when the
request says ``stream``), ``/tokenize`` (llama.cpp's form) and
``/v1/models`` on a free port of 127.0.0.1, in a thread::

    with FakeOpenAI() as fake:
        fake.reply("Hello!")                             # the next answer, streamed or not
        fake.chunks([chunk("Hel"), chunk("lo"), chunk(finish_reason="stop"), DONE])
        fake.fail(500, {"error": {"message": "boom"}})
        fake.hang()                                      # never answers (until stopped)
        ...  # point a backend at fake.base_url + "/v1"
        fake.requests                                    # what it was sent, oldest first

Each scripted answer serves ``times`` requests (1 by default, None: every
one), in the order scripted; with none left, every request gets ``default``.
``chunks`` sends exactly what it is given, pathological or not: a dict as a
``data:`` line, a str verbatim, ``Pause(s)`` to wait, ``RESET`` to cut the
connection there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from dateline.testing import AppThread

__all__ = ["DONE", "RESET", "FakeOpenAI", "Pause", "Reply", "chunk", "tool_call"]

DONE = "data: [DONE]\n\n"
UPSTREAM_ID = "chatcmpl-fake"


class _Reset(Exception):
    """Raised inside a streamed body: uvicorn then closes the connection."""


RESET = _Reset


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` between two chunks (cut short when the server stops)."""

    seconds: float


def chunk(
    content: str | None = None,
    *,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    role: str | None = None,
    id: str = UPSTREAM_ID,  # noqa: A002 - the field's name
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` (with one choice, unless only ``usage`` is given)."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body: dict[str, Any] = {"id": id, "object": "chat.completion.chunk", "created": 1, "model": "fake-model"}
    only_usage = usage is not None and not delta and finish_reason is None
    body["choices"] = [] if only_usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage
    return body


def tool_call(index: int, arguments: str = "", *, id: str | None = None, name: str | None = None) -> dict[str, Any]:  # noqa: A002
    """One entry of a chunk's ``delta.tool_calls``."""
    call: dict[str, Any] = {"index": index}
    function: dict[str, Any] = {"arguments": arguments}
    if id is not None:
        call["id"], call["type"] = id, "function"
    if name is not None:
        function["name"] = name
    call["function"] = function
    return call


@dataclass
class Reply:
    """A whole answer, sent as one completion or as a stream of chunks."""

    text: str | None = "Hello from the fake upstream."
    reasoning: str | None = None
    #: ``{"name", "arguments" (str or dict), "id"?}`` each.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    #: ``{"prompt_tokens", "completion_tokens"}``; None: made up; False: none sent.
    usage: dict[str, Any] | bool | None = None
    id: str = UPSTREAM_ID

    def calls(self) -> list[dict[str, Any]]:
        return [
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {"name": call["name"], "arguments": _arguments(call.get("arguments", {}))},
            }
            for i, call in enumerate(self.tool_calls)
        ]

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    def counts(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if self.usage is False:
            return None
        if isinstance(self.usage, dict):
            return self.usage
        prompt = max(1, len(orjson.dumps(request.get("messages"))) // 4)
        completion = len(_pieces(self.text or "")) + len(_pieces(self.reasoning or "")) + 2 * len(self.tool_calls)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def completion(self, request: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = self.calls()
        body = {
            "id": self.id,
            "object": "chat.completion",
            "created": 1,
            "model": request.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish()}],
        }
        usage = self.counts(request)
        if usage is not None:
            body["usage"] = usage
        return body

    def stream(self, request: dict[str, Any]) -> list[Any]:
        """As OpenAI streams it: a role chunk, the pieces, the finish, the usage, ``[DONE]``."""
        out: list[Any] = [chunk("", role="assistant", id=self.id)]
        out += [chunk(reasoning=piece, id=self.id) for piece in _pieces(self.reasoning or "")]
        out += [chunk(piece, id=self.id) for piece in _pieces(self.text or "")]
        for index, call in enumerate(self.calls()):
            function = call["function"]
            opening = tool_call(index, id=call["id"], name=function["name"])
            out.append(chunk(tool_calls=[opening], id=self.id))
            arguments = function["arguments"]
            out += [
                chunk(tool_calls=[tool_call(index, arguments[i : i + 8])], id=self.id)
                for i in range(0, len(arguments), 8)
            ]
        out.append(chunk(finish_reason=self.finish(), id=self.id))
        usage = self.counts(request)
        if usage is not None and (request.get("stream_options") or {}).get("include_usage"):
            out.append(chunk(usage=usage, id=self.id))
        return [*out, DONE]


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class _Chunks:
    items: list[Any]


@dataclass
class _Hang:
    after: list[Any]  # streamed before hanging; empty: not even the headers


def _arguments(value: str | dict[str, Any]) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*$|\s*\S+", text) if text.strip() else ([text] if text else [])


def token_count(text: str) -> int:
    """How many tokens the fake's ``/tokenize`` says ``text`` is: words and symbols."""
    return len(re.findall(r"\w+|[^\w\s]", text))


class FakeOpenAI:
    """The fake upstream; a context manager (``start``/``stop`` also work)."""

    def __init__(self, *, default: Reply | None = None, tokenize: bool = True) -> None:
        self.default = default or Reply()
        self.tokenize = tokenize
        self.requests: list[dict[str, Any]] = []
        self._script: list[list[Any]] = []  # [answer, times left or None]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/tokenize", self._tokenize, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self._served = AppThread(app, "fake-openai", timeout_graceful_shutdown=2)
        self.port: int = self._served.port

    @property
    def base_url(self) -> str:
        """The server's root; OpenAI clients want ``base_url + "/v1"``."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting -------------------------------------------------------------

    def reply(self, text: str | None = "", *, times: int | None = 1, **fields: Any) -> Reply:
        """Answer with ``Reply(text, **fields)`` (``reasoning``, ``tool_calls``, ``finish_reason``, ``usage``, ``id``)."""
        answer = Reply(text, **fields)
        self._add(answer, times)
        return answer

    def chunks(self, items: Iterable[Any], *, times: int | None = 1) -> None:
        """Stream exactly ``items`` (whatever the request asked for)."""
        self._add(_Chunks(list(items)), times)

    def fail(
        self, status: int, body: Any = None, *, headers: dict[str, str] | None = None, times: int | None = 1
    ) -> None:
        """Answer ``status`` with ``body`` (JSON unless a str or bytes)."""
        if body is None:
            body = {"error": {"message": f"fake failure {status}", "type": "server_error", "code": status}}
        self._add(_Failure(status, body, headers or {}), times)

    def hang(self, *, after: Iterable[Any] = (), times: int | None = 1) -> None:
        """Never answer; with ``after``, stream those items first, then nothing more."""
        self._add(_Hang(list(after)), times)

    def clear(self) -> None:
        """Forget the script and the requests."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def _add(self, answer: Any, times: int | None) -> None:
        with self._lock:
            self._script.append([answer, times])

    def _next(self) -> Any:
        with self._lock:
            if not self._script:
                return self.default
            entry = self._script[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._script.pop(0)
            return entry[0]

    # -- serving ---------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        answer = self._next()
        if isinstance(answer, _Failure):
            content = answer.body if isinstance(answer.body, (str, bytes)) else orjson.dumps(answer.body)
            return Response(content, status_code=answer.status, headers=answer.headers, media_type="application/json")
        if isinstance(answer, _Hang) and not answer.after:
            await self._wait(None)
            return Response(status_code=503)
        if isinstance(answer, Reply) and not body.get("stream"):
            return Response(orjson.dumps(answer.completion(body)), media_type="application/json")
        if isinstance(answer, Reply):
            items = answer.stream(body)
        else:
            items = answer.after if isinstance(answer, _Hang) else answer.items
        return StreamingResponse(self._stream(items, hang=isinstance(answer, _Hang)), media_type="text/event-stream")

    async def _stream(self, items: list[Any], *, hang: bool) -> Any:
        for item in items:
            if isinstance(item, Pause):
                await self._wait(item.seconds)
            elif item is RESET:
                raise _Reset()
            elif isinstance(item, (str, bytes)):
                yield item
            else:
                yield b"data: " + orjson.dumps(item) + b"\n\n"
        if hang:
            await self._wait(None)

    async def _wait(self, seconds: float | None) -> None:
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self._stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(0.02)

    async def _tokenize(self, request: Request) -> Response:
        body = await self._record(request)
        if not self.tokenize:
            return Response(b'{"detail":"Not Found"}', status_code=404, media_type="application/json")
        tokens = list(range(token_count(str(body.get("content", "")))))
        return Response(orjson.dumps({"tokens": tokens}), media_type="application/json")

    async def _models(self, request: Request) -> Response:
        return Response(orjson.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}))

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        with self._lock:
            self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        return body

    # -- running ---------------------------------------------------------------

    def start(self) -> Self:
        self._served.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._served.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def chats(self) -> list[dict[str, Any]]:
        """The bodies of the chat completion requests received, oldest first."""
        return [r["body"] for r in self.requests if r["path"] == "/v1/chat/completions"]


class _QuietReset(logging.Filter):
    """Keeps uvicorn from logging a traceback for each connection cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Reset))


logging.getLogger("uvicorn.error").addFilter(_QuietReset())
