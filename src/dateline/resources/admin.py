"""The admin API under ``/_dateline/``: not part of the Claude API.

Load, read and reset the rules; read back and clear the request log; the
OpenAPI document of an API version; clear the prompt cache and move its clock;
make, list, change and revoke API keys; set and remove workspaces' rate limits;
usage per key, model and day.
"""

from __future__ import annotations

import asyncio
import datetime
import math
from typing import Any

import orjson

from .. import errors, openapi, script
from ..operation import Call
from ..usage import Counts
from ._paging import PageQuery, envelope


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
    return {"data": await call.state.log.read()}


async def delete_requests(call: Call) -> dict[str, Any]:
    call.state.log.clear()
    return {"data": []}


async def get_usage(call: Call) -> dict[str, Any]:
    """Per key, model and day (UTC): ``?key=`` (a key's id), ``?since=``, ``?until=``
    (``YYYY-MM-DD``, inclusive). This process's counts are flushed first."""
    query = call.query
    since, until = _day(query, "since"), _day(query, "until")
    meter = getattr(call.state, "usage", None)
    if meter is None:
        return {"data": [], "total": Counts().as_dict()}
    await meter.flush()
    rows = await meter.rows(key=query.get("key") or None, since=since, until=until)
    total = Counts()
    for row in rows:
        total.add(row.counts)
    return {"data": [row.as_dict() for row in rows], "total": total.as_dict()}


def _day(query: Any, name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value).isoformat() if len(value) == 10 else _not_a_day(name)
    except ValueError:
        return _not_a_day(name)


def _not_a_day(name: str) -> str:
    raise errors.InvalidRequestError(f"{name}: Input should be a date, YYYY-MM-DD")


async def get_openapi(call: Call) -> dict[str, Any]:
    """``?version=`` (default: head): the document of the routes this app serves."""
    try:
        # The first document of a version takes a moment to build: off the event loop.
        return await asyncio.to_thread(openapi.document, call.scope["app"], call.query.get("version"))
    except openapi.UnknownVersion as exc:
        raise errors.InvalidRequestError(str(exc)) from None


async def get_prompt_cache(call: Call) -> dict[str, Any]:
    return _cache_clock(call)


async def delete_prompt_cache(call: Call) -> dict[str, Any]:
    """Every cache entry gone (the clock stays where it is)."""
    await call.state.prompt_cache.state.clear()
    return _cache_clock(call)


async def post_prompt_cache_clock(call: Call) -> dict[str, Any]:
    """``{"advance": seconds}``: the cache's clock moves forward, so entries expire without waiting."""
    try:
        body = orjson.loads(call.raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if type(body) is not dict or set(body) - {"advance"}:
        raise errors.InvalidRequestError('The request body must be a JSON object: {"advance": seconds}')
    seconds = body.get("advance", 0)
    if type(seconds) not in (int, float) or not math.isfinite(seconds) or seconds < 0:
        raise errors.InvalidRequestError("advance: Input should be a number of seconds, greater than or equal to 0")
    call.state.prompt_cache.clock.advance(seconds)
    return _cache_clock(call)


def _cache_clock(call: Call) -> dict[str, Any]:
    clock = call.state.prompt_cache.clock
    return {"now": clock.now(), "advanced": clock.offset}


# -- API keys ----------------------------------------------------------------------


async def list_keys(call: Call) -> dict[str, Any]:
    """Newest first, paged as the API pages lists; ``?status=active|revoked``, ``?workspace_id=``."""
    query = call.query
    page = PageQuery.of(query)
    where: dict[str, Any] = {}
    status = query.get("status")
    if status is not None:
        if status not in ("active", "revoked"):
            raise errors.InvalidRequestError("status: Input should be 'active' or 'revoked'")
        where["revoked"] = status == "revoked"
    if query.get("workspace_id") is not None:
        where["workspace_id"] = query["workspace_id"]
    try:
        keys, has_more = await call.state.keys.page(
            after_id=page.after_id, before_id=page.before_id, limit=page.limit, **where
        )
    except KeyError as exc:
        raise page.unknown(exc.args[0], "API key") from None
    return envelope([key.describe() for key in keys], has_more)


async def create_key(call: Call) -> dict[str, Any]:
    """A new key; the answer holds its ``secret``, which is never shown again."""
    key, secret = await call.state.keys.create(_object(call.raw))
    return {**key.describe(), "secret": secret}


async def get_key(call: Call) -> dict[str, Any]:
    key = await call.state.keys.get(call.path_params["key_id"])
    return _found(key, call).describe()


async def update_key(call: Call) -> dict[str, Any]:
    """A JSON merge patch of the key's name, workspace and settings."""
    key = await call.state.keys.update(call.path_params["key_id"], _object(call.raw))
    return _found(key, call).describe()


async def revoke_key(call: Call) -> dict[str, Any]:
    """Revoked for good: every process refuses it within a second."""
    key = await call.state.keys.revoke(call.path_params["key_id"])
    return _found(key, call).describe()


# -- workspaces' limits ------------------------------------------------------------


async def list_workspaces(call: Call) -> dict[str, Any]:
    """The workspaces with limits, newest first, paged as the API pages lists."""
    page = PageQuery.of(call.query)
    try:
        spaces, has_more = await call.state.keys.workspaces(
            after_id=page.after_id, before_id=page.before_id, limit=page.limit
        )
    except KeyError as exc:
        raise page.unknown(exc.args[0], "workspace") from None
    return envelope([space.describe() for space in spaces], has_more)


async def get_workspace(call: Call) -> dict[str, Any]:
    space = await call.state.keys.get_workspace(call.path_params["workspace_id"])
    return _workspace(space, call).describe()


async def put_workspace(call: Call) -> dict[str, Any]:
    """``{"rate_limits": {...}}``: the workspace's limits, all of them; every process applies them within a second."""
    space = await call.state.keys.put_workspace(call.path_params["workspace_id"], _object(call.raw))
    return space.describe()


async def delete_workspace(call: Call) -> dict[str, Any]:
    """The workspace's limits removed, as the API deletes an object (its keys keep their own limits)."""
    space = _workspace(await call.state.keys.remove_workspace(call.path_params["workspace_id"]), call)
    return {"id": space.id, "type": "workspace_deleted"}


def _workspace(space: Any, call: Call) -> Any:
    if space is None:
        raise errors.NotFoundError(f"No workspace with id {call.path_params['workspace_id']}")
    return space


def _found(key: Any, call: Call) -> Any:
    if key is None:
        raise errors.NotFoundError(f"No API key with id {call.path_params['key_id']}")
    return key


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    if type(body) is not dict:
        raise errors.InvalidRequestError("The request body must be a JSON object")
    return body
