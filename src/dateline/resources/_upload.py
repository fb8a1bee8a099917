"""Reading an upload: a multipart/form-data body parsed as it arrives, the
``file`` part streamed out in chunks (never held whole), the other fields
kept, and every malformed body refused with the API's error."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, MultipartParser, parse_options_header

from .. import body, errors
from ..operation import Call
from ..types import Receive

#: What a body may carry beyond the file: part headers, boundaries, small fields.
_FRAMING = 64 * 1024
_MAX_FIELD = 1024
_MAX_FILENAME = 255
_EXPIRES_IN = (3600, 7_776_000)  # one hour to ninety days
_FIELDS = ("file", "expires_in_seconds")
#: Characters a filename may not hold: Windows' reserved ones and every control character (C0, DEL, C1).
_FORBIDDEN = re.compile(r'[<>:"|?*\x00-\x1f\x7f-\x9f]')
#: A media type as RFC 6838 names them (``type/subtype``, ASCII only): what a ``content-type`` header may carry.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_OCTETS = "application/octet-stream"
_NOT_MULTIPART = "The request body must be multipart/form-data, with the file in a part named `file`"
_MALFORMED = "The request body is not valid multipart/form-data"


def boundary(call: Call, limit: int) -> bytes:
    """The body's multipart boundary; a body declared larger than ``limit`` allows is refused unread."""
    headers = call.headers
    content_type, options = parse_options_header(headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise errors.InvalidRequestError(_NOT_MULTIPART)
    boundary = options.get(b"boundary")
    if not boundary:
        raise errors.InvalidRequestError("The multipart/form-data content-type header has no boundary")
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        # RFC 2046 allows 70 characters; the parser takes up to this many, and no client sends more.
        raise errors.InvalidRequestError(
            f"The multipart/form-data boundary is longer than {MAX_BOUNDARY_LENGTH} characters"
        )
    length = body.declared_length(call.scope["headers"])
    if length is not None and length > limit + _FRAMING:
        raise errors.RequestTooLargeError()  # refused before a byte is read
    return boundary


class Form:
    """The parts of one multipart/form-data body, as they stream past."""

    def __init__(self, boundary: bytes, limit: int) -> None:
        self.boundary = boundary
        self.limit = limit  #: the most bytes the file may have
        self.fields: dict[str, bytearray] = {}
        self.has_file = False
        self.filename = ""
        self.part_type = b""
        self.size = 0
        self.complete = False
        self._pending: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = bytearray(), bytearray()
        self._name = ""

    async def file_chunks(self, receive: Receive) -> AsyncIterator[bytes]:
        """The ``file`` part's bytes, read off the body; every other part is kept in ``fields``."""
        try:
            parser = MultipartParser(self.boundary, self._callbacks())  # type: ignore[arg-type]
        except FormParserError:
            raise errors.InvalidRequestError(_MALFORMED) from None
        async for chunk in body.chunks(receive, self.limit + _FRAMING):
            try:
                parser.write(chunk)
            except FormParserError:
                raise errors.InvalidRequestError(_MALFORMED) from None
            if self._pending:
                pending, self._pending = self._pending, []
                yield pending[0] if len(pending) == 1 else b"".join(pending)
        if not self.complete:
            raise errors.InvalidRequestError(f"{_MALFORMED}: it ends before its closing boundary")

    def describe(self) -> tuple[str, str]:
        """The upload's filename and MIME type, once the body is read; refuses a bad form."""
        if not self.has_file:
            raise errors.InvalidRequestError("file: Field required")
        _expires_in(self.fields.get("expires_in_seconds"))
        filename = self.filename
        mime_type = self.part_type.decode("latin-1")
        if mime_type in ("", _OCTETS) or not is_media_type(mime_type):
            mime_type = (mimetypes.guess_type(filename)[0] if filename else None) or _OCTETS
        if not filename:
            # No name given: "unnamed", with the extension of its type when known.
            filename = "unnamed" + ((mimetypes.guess_extension(mime_type) or "") if mime_type != _OCTETS else "")
        return filename, mime_type

    # python-multipart's callbacks ------------------------------------------------

    def _callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._part_start,
            "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field, self._value = bytearray(), bytearray()

    def _part_start(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = _text(options.get(b"name", b""))
        if not name:
            raise errors.InvalidRequestError(f"{_MALFORMED}: a part has no name")
        if name not in _FIELDS:
            raise errors.InvalidRequestError(f"{name}: Extra inputs are not permitted")
        self._name = name
        if name == "file":
            if self.has_file:
                raise errors.InvalidRequestError("file: only one file may be uploaded per request")
            self.has_file = True
            # Only the name's last path component is kept, as the API does; checked
            # now, so a bad name is refused before the file is read.
            self.filename = re.split(r"[\\/]", _text(options.get(b"filename", b"")))[-1]
            if len(self.filename) > _MAX_FILENAME or _FORBIDDEN.search(self.filename):
                raise errors.InvalidRequestError(
                    f"file: Invalid filename: it must be 1-{_MAX_FILENAME} characters and may not contain "
                    '<, >, :, ", |, ?, *, \\, / or control characters'
                )
            self.part_type, _ = parse_options_header(self._headers.get(b"content-type"))
        else:
            self.fields[name] = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file":
            self.size += end - start
            if self.size > self.limit:
                raise errors.RequestTooLargeError()
            self._pending.append(data[start:end])
            return
        field = self.fields[self._name]
        field += data[start:end]
        if len(field) > _MAX_FIELD:
            raise errors.InvalidRequestError(f"{self._name}: value too long")

    def _end(self) -> None:
        self.complete = True


def is_media_type(text: str) -> bool:
    """Whether ``text`` is a bare media type, whole (so it can go in a header as it is)."""
    return _MEDIA_TYPE.fullmatch(text) is not None


def _text(raw: bytes) -> str:
    # Part headers arrive as Latin-1 text; clients put UTF-8 bytes in them.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _expires_in(raw: bytearray | None) -> None:
    """``expires_in_seconds`` is checked as the API checks it, though files here never expire."""
    if raw is None:
        return
    text = raw.decode("latin-1").strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise errors.InvalidRequestError(
            "expires_in_seconds: Input should be a valid integer, unable to parse string as an integer"
        )
    low, high = _EXPIRES_IN
    if int(text) < low:
        raise errors.InvalidRequestError(f"expires_in_seconds: Input should be greater than or equal to {low}")
    if int(text) > high:
        raise errors.InvalidRequestError(f"expires_in_seconds: Input should be less than or equal to {high}")
