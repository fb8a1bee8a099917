"""A fixed-reply OpenAI-compatible upstream, for the proxy section of ``bench/run.py``.

``POST /v1/chat/completions`` answers every request with the same
``chat.completion`` (a short reply, ~400 bytes), or, when the body asks for
``"stream": true``, with the same reply as server-sent ``chat.completion.chunk``
events and ``[DONE]``. ``GET /v1/models`` lists one model (a readiness check);
anything else is 404. A raw ASGI app, so that it costs as little as uvicorn
allows: what a proxy in front of it adds is then plain to see. It runs on the
same server as Dateline (uvicorn, loop and HTTP implementation left to
uvicorn's "auto" choice).

    python bench/upstream.py --port 8002 [--workers N]
"""

from __future__ import annotations

import orjson
import serve

MODEL = "bench-upstream"
TEXT = "Tide pools fill at high tide."

COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench0000000000000000000001",
    "object": "chat.completion",
    "created": 1764028800,
    "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "logprobs": None,
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22},
})


def _chunk(delta: dict, finish_reason: str | None = None, usage: dict | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    chunk = {"id": "chatcmpl-bench0000000000000000000001", "object": "chat.completion.chunk",
             "created": 1764028800, "model": MODEL, "choices": choices}
    if usage:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


STREAM = b"".join([
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": word}) for word in ("Tide", " pools", " fill", " at", " high", " tide", ".")),
    _chunk({}, "stop"),
    _chunk({}, usage={"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22}),
    b"data: [DONE]\n\n",
])
MODELS = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                                   "owned_by": "bench"}]})
NOT_FOUND = orjson.dumps({"error": {"message": "not found", "type": "invalid_request_error", "code": 404}})

JSON = [(b"content-type", b"application/json")]
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            event = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
            await send({"type": event + ".complete"})
            if event == "lifespan.shutdown":
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path, method = scope["path"], scope["method"]
    if path == "/v1/chat/completions" and method == "POST":
        streaming = b'"stream"' in body and orjson.loads(body).get("stream") is True
        status, headers, content = 200, SSE if streaming else JSON, STREAM if streaming else COMPLETION
    elif path == "/v1/models" and method == "GET":
        status, headers, content = 200, JSON, MODELS
    else:
        status, headers, content = 404, JSON, NOT_FOUND
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


if __name__ == "__main__":
    serve.main("upstream:app", 8002, __doc__.splitlines()[0])
