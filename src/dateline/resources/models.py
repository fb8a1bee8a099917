"""Models: ``GET /v1/models`` and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..operation import Call


async def list_models(call: Call) -> dict[str, Any]:
    query = call.query
    limit = page_limit(query.get("limit"))
    after_id, before_id = query.get("after_id"), query.get("before_id")
    try:
        return call.state.catalog.page(after_id=after_id, before_id=before_id, limit=limit)
    except KeyError as exc:
        # Name the cursor that failed: both may be given, and only one be unknown.
        cursor = "after_id" if exc.args[0] == after_id else "before_id"
        raise errors.InvalidRequestError(f"{cursor}: no model with id {exc.args[0]!s}") from None


async def retrieve(call: Call) -> dict[str, Any]:
    model_id = call.path_params["model_id"]
    info = call.state.catalog.get(model_id)
    if info is None:
        raise errors.NotFoundError(f"model: {model_id}")
    return call.state.catalog.to_api(info)


def page_limit(raw: str | None) -> int:
    """A list endpoint's ``limit`` query parameter: 1–1000, default 20."""
    if raw is None:
        return 20
    try:
        # int() also takes non-ASCII digits ("５"); the API's integer parsing does not.
        if not raw.isascii():
            raise ValueError(raw)
        limit = int(raw)
    except ValueError:
        raise errors.InvalidRequestError("limit: Input should be a valid integer, unable to parse string as an integer") from None
    if limit < 1:
        raise errors.InvalidRequestError("limit: Input should be greater than or equal to 1")
    if limit > 1000:
        raise errors.InvalidRequestError("limit: Input should be less than or equal to 1000")
    return limit
