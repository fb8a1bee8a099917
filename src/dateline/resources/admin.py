"""The admin API under ``/_dateline/``: not part of the Claude API.

Load, read and reset the rules; read back and clear the request log; the
OpenAPI document of an API version.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import errors, openapi, script
from ..operation import Call


async def get_rules(call: Call) -> dict[str, Any]:
    return call.state.scripter.describe()


async def put_rules(call: Call) -> dict[str, Any]:
    content_type = call.headers.get("content-type", "")
    try:
        # A big rules file takes seconds to parse and check: off the event loop.
        loaded = await asyncio.to_thread(script.loads, call.raw, yaml="json" not in content_type)
    except script.ScriptError as exc:
        raise errors.InvalidRequestError(str(exc)) from None
    call.state.scripter.load(loaded)
    return call.state.scripter.describe()


async def delete_rules(call: Call) -> dict[str, Any]:
    call.state.scripter.reset()
    return call.state.scripter.describe()


async def get_requests(call: Call) -> dict[str, Any]:
    return {"data": call.state.log.entries()}


async def delete_requests(call: Call) -> dict[str, Any]:
    call.state.log.clear()
    return {"data": []}


async def get_openapi(call: Call) -> dict[str, Any]:
    """``?version=`` (default: head): the document of the routes this app serves."""
    try:
        # The first document of a version takes a moment to build: off the event loop.
        return await asyncio.to_thread(openapi.document, call.scope["app"], call.query.get("version"))
    except openapi.UnknownVersion as exc:
        raise errors.InvalidRequestError(str(exc)) from None
