"""The floor: the fastest answer any Python ASGI app can give on this server.

A minimal Starlette app that reads the request body and returns a fixed,
Messages-sized JSON body (a real Message shape, ~300 bytes). It runs on the
same server as Dateline (uvicorn, same worker count, loop and HTTP
implementation left to uvicorn's "auto" choice, as ``dateline serve`` does).

    python bench/floor.py --port 8001 [--workers N]
"""

from __future__ import annotations

import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MESSAGE = (
    b'{"id":"msg_011CZkq6Xf2eTWzW1p3bMJhA","type":"message","role":"assistant",'
    b'"model":"claude-sonnet-4-5","content":[{"type":"text","text":"Tide pools '
    b'fill at high tide."}],"stop_reason":"end_turn",'
    b'"stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,'
    b'"cache_read_input_tokens":0,"output_tokens":12}}'
)


async def answer(request: Request) -> Response:
    await request.body()
    return Response(MESSAGE, media_type="application/json")


app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


if __name__ == "__main__":
    serve.main("floor:app", 8001, __doc__.splitlines()[0])
