"""API-style messages for request validation errors."""

from __future__ import annotations

import re

import pydantic

# Location parts that name a union branch rather than a place in the body: the `<str>` /
# `<list>` / `<dict>` tags of the generated JSON-type unions, and the names pydantic gives
# validator wrappers (`function-after[...]`, ...). The API's locations show neither.
_HIDDEN = re.compile(r"<[^<>]*>|function-(?:before|after|wrap|plain)\[.*\]")


def error_location(loc: tuple[int | str, ...]) -> str:
    """`("messages", 1, "content", 0, "thinking", "signature")` -> `messages.1.content.0.thinking.signature`."""
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and _HIDDEN.fullmatch(part)))


def format_validation_error(exc: pydantic.ValidationError) -> str:
    """The message the API gives for a request body that fails validation: the first error,
    as `<location>: <pydantic message>`, or just the message when it concerns the whole body."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return str(exc)
    first = errors[0]
    where = error_location(first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
