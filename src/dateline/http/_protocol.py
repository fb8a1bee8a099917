"""uvicorn's httptools protocol, refusing an over-large request head as it arrives.

uvicorn sets no limit of its own on the request line and headers: a client
could send megabytes of them, all buffered before the app sees the request.
Here the head is measured while it is parsed; past ``MAX_HEAD_BYTES`` or
``MAX_HEADER_FIELDS`` the client gets a 431 with the API's envelope, and
whatever it still sends is read and dropped until it closes (or a short
linger ends): closing at once could reset the connection under the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..ids import request_id
from ._limits import MAX_HEAD_BYTES, MAX_HEADER_FIELDS, HeadersTooLargeError

#: Seconds a refused connection is drained before it is closed.
LINGER = 5.0


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing the head."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._received = 0  # bytes received while the head is incomplete: bounds what the parser buffers
        self._head_size = 0  # the head as parsed so far: the URL and every field
        self._too_large = False
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: drained, not parsed
        if self._in_head:
            self._received += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._too_large:
                self._refuse()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        # A single field still arriving is buffered by the parser, not yet reported: cut it off here.
        if self._in_head and self._received > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    # Parser callbacks

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_size = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)  # with ": " and CRLF
        if len(self.headers) >= MAX_HEADER_FIELDS:
            self._too_large = True
            raise _HeadTooLarge()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._received = 0
        super().on_headers_complete()

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            self._too_large = True
            raise _HeadTooLarge()

    def _refuse(self) -> None:
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request's answer is still going out on this connection: no room for another.
            self.transport.close()
            return
        rid = request_id()
        body = orjson.dumps(HeadersTooLargeError().to_dict(rid))
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\nrequest-id: ",
            rid.encode(),
            b"\r\nx-should-retry: false\r\nconnection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER, self.transport.close)
