"""The thin HTTP layer: the versioned edge, SSE framing and identifiers."""

from ._edge import Call, Endpoint, Handler, Operation, Stream, error_response
from ..ids import new_id, request_id
from ._sse import frame

__all__ = ["Call", "Endpoint", "Handler", "Operation", "Stream", "error_response", "frame", "new_id", "request_id"]
