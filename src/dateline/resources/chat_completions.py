"""OpenAI SDK compatibility: ``POST /v1/chat/completions``.

The request is translated into a head Messages request (``_chat_request``) and
answered by the Messages operation itself: the same validation, model rules,
scripted rules and faults, request log, key limits and backends. Only the answer
(``_chat_answer``) and its errors (``error_body``) are OpenAI's.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import errors
from ..catalog import Catalog
from ..operation import Operation
from ..schemas import MessageCreateParams
from . import limits, messages
from ._chat_answer import Chunks, completion
from ._chat_request import ChatRequestError, include_usage, model_limits, to_head

__all__ = ["Chunks", "completion", "error_body", "include_usage", "operation"]


def operation(catalog: Catalog) -> Operation:
    """The Messages create operation, fed OpenAI bodies (its own remembered valid bodies)."""
    return Operation(
        limits.limited(messages.create),
        "messages",
        MessageCreateParams,
        versioned=False,  # no anthropic-version needed: the edge serves it under head
        check=messages.check_create,
        # A partial of a module-level function: a big body's lift travels to the validating worker.
        lift=functools.partial(to_head, model_limits(catalog)),
        scripted=True,
    )


def error_body(exc: errors.APIError) -> dict[str, Any]:
    """OpenAI's error envelope; ``type`` is the API's error type (Dateline's choice)."""
    param = code = None
    if isinstance(exc, ChatRequestError):
        param, code = exc.param, exc.code
    return {"error": {"message": exc.message, "type": exc.type, "param": param, "code": code}}
