"""Validating a request body against a request model, with the API's errors."""

from __future__ import annotations

from typing import Any

import orjson
import pydantic

from .. import errors
from ._errors import format_validation_error


def validate(params: type[pydantic.BaseModel], body: dict[str, Any]) -> Any:
    """``body`` as ``params`` (strictly), or the API's invalid_request_error."""
    try:
        # orjson reads JSON 1024 levels deep but writes only 254: refuse here
        # what handlers, backends and the tokenizer could not write back.
        orjson.dumps(body)
    except TypeError:
        raise errors.InvalidRequestError("The request body is nested too deeply") from None
    try:
        # Strict: handlers and backends read the body as sent, so a value that
        # only coerces to its type ("16" for 16, "false" for False) is refused.
        return params.model_validate(body, strict=True)
    except pydantic.ValidationError as exc:
        raise errors.InvalidRequestError(format_validation_error(exc)) from None
