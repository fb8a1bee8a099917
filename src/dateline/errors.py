"""The API's error types, one class per ``error.type``.

Raise one anywhere below the edge; the edge turns it into the envelope
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the
right status, or into an ``error`` event once a stream has started.
"""

from __future__ import annotations

from typing import Any

#: The longest message an error carries: one that echoes what a client sent
#: (a model id, a rule's name, an upstream's body) is cut to this, with a marker.
MAX_MESSAGE = 4096


class APIError(Exception):
    status_code = 500
    type = "api_error"
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.message = bounded(message) if message is not None else self.default_message
        self.headers = headers or {}
        super().__init__(self.message)

    def to_dict(self, request_id: str | None) -> dict[str, Any]:
        return envelope(self.type, self.message, request_id)


class InvalidRequestError(APIError):
    status_code = 400
    type = "invalid_request_error"
    default_message = "Invalid request"


class AuthenticationError(APIError):
    status_code = 401
    type = "authentication_error"
    default_message = "invalid x-api-key"


class BillingError(APIError):
    status_code = 402
    type = "billing_error"
    default_message = "Your credit balance is too low to access the Anthropic API."


class PermissionError(APIError):  # noqa: A001 - named after the API's error type
    status_code = 403
    type = "permission_error"
    default_message = "Your API key does not have permission to use the specified resource."


class NotFoundError(APIError):
    status_code = 404
    type = "not_found_error"
    default_message = "The requested resource could not be found."


class MethodNotAllowedError(APIError):
    status_code = 405
    type = "invalid_request_error"
    default_message = "Method Not Allowed"


class ConflictError(APIError):
    status_code = 409
    type = "conflict_error"
    default_message = "Conflict"


class RequestTooLargeError(APIError):
    status_code = 413
    type = "request_too_large"
    default_message = "Request exceeds the maximum size"


class RateLimitError(APIError):
    status_code = 429
    type = "rate_limit_error"
    default_message = "Number of requests has exceeded your rate limit."


class InternalServerError(APIError):
    status_code = 500
    type = "api_error"
    default_message = "Internal server error"


class TimeoutError(APIError):  # noqa: A001 - named after the API's error type
    status_code = 504
    type = "timeout_error"
    default_message = "The request timed out while processing."


class OverloadedError(APIError):
    status_code = 529
    type = "overloaded_error"
    default_message = "Overloaded"


ERROR_TYPES: dict[str, type[APIError]] = {
    cls.type: cls
    for cls in (
        InvalidRequestError,
        AuthenticationError,
        BillingError,
        PermissionError,
        NotFoundError,
        ConflictError,
        RequestTooLargeError,
        RateLimitError,
        InternalServerError,
        TimeoutError,
        OverloadedError,
    )
}


def envelope(error_type: str, message: str, request_id: str | None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": bounded(message)}, "request_id": request_id}


def bounded(message: str) -> str:
    """``message``, or its start and how long it was, in ``MAX_MESSAGE`` characters at most."""
    if len(message) <= MAX_MESSAGE:
        return message
    marker = f"… [message truncated: {len(message)} characters in all]"
    return message[: MAX_MESSAGE - len(marker)] + marker
