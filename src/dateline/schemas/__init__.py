"""Request-body models for the API, generated from the anthropic SDK's param types.

Validate a body with ``MessageCreateParams.model_validate_json(raw)`` or
``MessageCreateParams.model_validate(parsed)``; both raise ``pydantic.ValidationError`` with the
same errors, which ``format_validation_error`` turns into the API's message.
"""

from ._errors import error_location, format_validation_error
from ._generated import CompletionCreateParams, MessageCountTokensParams, MessageCreateParams
from ._validate import validate

__all__ = [
    "CompletionCreateParams",
    "MessageCountTokensParams",
    "MessageCreateParams",
    "error_location",
    "format_validation_error",
    "validate",
]
