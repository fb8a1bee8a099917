"""The thin HTTP layer: the versioned edge and SSE framing."""

from ._edge import Endpoint, error_response
from ._limits import server_options
from ._sse import frame

__all__ = ["Endpoint", "error_response", "frame", "server_options"]
