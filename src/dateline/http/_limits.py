"""How big a request's head may be: the request line and headers.

The server refuses a head beyond these limits while it is still arriving
(``_protocol.py``), and the edge checks them again for any other server
running the app (the test double's uvicorn, or one started by hand).
"""

from __future__ import annotations

from typing import Any

from .. import errors

#: Bytes of the request line and every header together (as nginx's 4 × 8 KB plus room for long cookies).
MAX_HEAD_BYTES = 64 * 1024
#: Header fields in one request (Apache's default; SDKs send about 15).
MAX_HEADER_FIELDS = 100


class HeadersTooLargeError(errors.InvalidRequestError):
    # The API documents no answer for this; the status is HTTP's, the wording Dateline's own.
    status_code = 431
    default_message = (
        f"Request headers exceed the maximum size ({MAX_HEAD_BYTES // 1024} KB, {MAX_HEADER_FIELDS} fields)"
    )


def server_options() -> dict[str, Any]:
    """uvicorn's options for serving the app: a parser that refuses over-large heads as they arrive."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # uvicorn without its [standard] extra: h11, which has a buffer limit of its own
        return {"http": "h11", "h11_max_incomplete_event_size": MAX_HEAD_BYTES}
    return {"http": "dateline.http._protocol:LimitedHttpToolsProtocol"}
