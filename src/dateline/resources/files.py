"""Files: ``/v1/files`` (beta ``files-api-2025-04-14``), and the content of
uploaded files for messages that name them.

An upload is parsed as it arrives: the ``file`` part streams straight into
the blob store, so no file is held in memory or spooled twice. Metadata
lives in the store, the bytes in the blob store under the file's id.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.responses import StreamingResponse
from starlette.types import Receive

from .. import errors
from ..http import Call, new_id
from .batches import rfc3339
from .models import page_limit

MB = 1024 * 1024
#: The API's limit per file. Read at each upload, so a test may lower it.
MAX_FILE_SIZE = 500 * MB
#: What a body may carry beyond the file: part headers, boundaries, small fields.
_FRAMING = 64 * 1024
_MAX_FIELD = 1024
_MAX_FILENAME = 255
_MAX_IDS = 100
_EXPIRES_IN = (3600, 7_776_000)  # one hour to ninety days
_FIELDS = ("file", "expires_in_seconds")
_FORBIDDEN = re.compile(r'[<>:"|?*\x00-\x1f]')
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_OCTETS = "application/octet-stream"
_NOT_MULTIPART = "The request body must be multipart/form-data, with the file in a part named `file`"
_MALFORMED = "The request body is not valid multipart/form-data"

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
#: Sent to the model as plain text when named by a document block.
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/yaml", "application/x-yaml"})


class FileNotDownloadableError(errors.InvalidRequestError):
    """The API names this cause in ``error.details``; current SDKs raise their own class for it."""

    def to_dict(self, request_id: str | None) -> dict[str, Any]:
        body = super().to_dict(request_id)
        body["error"]["details"] = {"error_code": "file_not_downloadable"}
        return body


# -- endpoints -----------------------------------------------------------------


async def upload(call: Call) -> dict[str, Any]:
    form = _Form(_boundary(call))
    file_id = new_id("file")
    blobs = call.state.blobs
    size = await blobs.put(file_id, form.file_chunks(call.receive))  # type: ignore[arg-type]
    try:
        filename, mime_type = form.describe()
        file = {
            "id": file_id,
            "filename": filename,
            "mime_type": mime_type,
            "size_bytes": size,
            "created_at": time.time(),
            "downloadable": False,  # the API's rule: only files that tools made are
            "scope_id": None,
        }
        await call.state.store.add_file(file)
    except BaseException:
        await blobs.delete(file_id)
        raise
    return to_api(file)


async def list_files(call: Call) -> dict[str, Any]:
    query = call.query
    ids = query.getlist("ids[]") or query.getlist("ids")
    if ids:
        if "page" in query or "limit" in query:
            raise errors.InvalidRequestError("ids: cannot be combined with `page` or `limit`")
        return await _listed(call, ids, query.get("scope_id"))
    after_id, before_id, page = query.get("after_id"), query.get("before_id"), query.get("page")
    if page:
        if after_id or before_id:
            raise errors.InvalidRequestError("page: cannot be combined with `after_id` or `before_id`")
        after_id, before_id = _read_page(page)
    try:
        rows, has_more = await call.state.store.list_files(
            after_id=after_id, before_id=before_id, limit=page_limit(query.get("limit")), scope_id=query.get("scope_id")
        )
    except KeyError as exc:
        cursor = "page" if page else "after_id" if exc.args[0] == after_id else "before_id"
        raise errors.InvalidRequestError(f"{cursor}: no file with id {exc.args[0]}") from None
    data = [to_api(row) for row in rows]
    next_page = None
    if has_more:
        # Onwards in the direction asked: towards older files unless paging back with before_id.
        next_page = _page("before", data[0]["id"]) if before_id and not after_id else _page("after", data[-1]["id"])
    return _list_page(data, has_more, next_page)


async def retrieve(call: Call) -> dict[str, Any]:
    return to_api(await _file(call, call.path_params["file_id"]))


async def delete(call: Call) -> dict[str, Any]:
    file_id = call.path_params["file_id"]
    if not await call.state.store.delete_file(file_id):
        raise not_found(file_id)
    await call.state.blobs.delete(file_id)
    return {"id": file_id, "type": "file_deleted"}


async def download(call: Call) -> StreamingResponse:
    file = await _file(call, call.path_params["file_id"])
    if not file["downloadable"] and not call.state.settings.files_downloadable:
        raise FileNotDownloadableError(
            f"File {file['id']} is not downloadable: only files that tools (such as code execution) create can be downloaded"
        )
    chunks = _opened(call, file["id"])
    first = await anext(chunks, b"")  # a file deleted meanwhile is still an ordinary 404
    headers = {
        "content-type": file["mime_type"],
        "content-length": str(file["size_bytes"]),
        "content-disposition": _attachment(file["filename"]),
    }
    return StreamingResponse(_prepend(first, chunks), headers=headers)


# -- files named in messages -----------------------------------------------------


async def content_source(call: Call, file_id: str, kind: str, loc: str) -> dict[str, Any]:
    """The ``source`` a ``document`` or ``image`` block gets in place of ``{"type": "file", "file_id"}``."""
    file = await _file(call, file_id)
    mime = file["mime_type"]
    if kind == "image":
        if mime not in IMAGE_TYPES:
            raise errors.InvalidRequestError(
                f"{loc}: file {file_id} is {mime}; an image block takes image/jpeg, image/png, image/gif or image/webp"
            )
        return {"type": "base64", "media_type": mime, "data": base64.b64encode(await _read(call, file_id)).decode()}
    if mime == "application/pdf":
        return {"type": "base64", "media_type": mime, "data": base64.b64encode(await _read(call, file_id)).decode()}
    if mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml")):
        text = (await _read(call, file_id)).decode("utf-8", "replace")
        return {"type": "text", "media_type": "text/plain", "data": text}
    raise errors.InvalidRequestError(f"{loc}: file {file_id} is {mime}; a document block takes PDF or plain-text files")


# -- metadata ----------------------------------------------------------------------


def to_api(file: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": file["id"],
        "type": "file",
        "filename": file["filename"],
        "mime_type": file["mime_type"],
        "size_bytes": file["size_bytes"],
        "created_at": rfc3339(file["created_at"]),
        "downloadable": bool(file["downloadable"]),
    }
    if file.get("scope_id"):
        out["scope"] = {"id": file["scope_id"], "type": "session"}
    return out


def not_found(file_id: str) -> errors.APIError:
    return errors.NotFoundError(f"File not found: {file_id}")


async def _file(call: Call, file_id: str) -> dict[str, Any]:
    file = await call.state.store.get_file(file_id)
    if file is None:
        raise not_found(file_id)
    return file


async def _listed(call: Call, ids: list[str], scope_id: str | None) -> dict[str, Any]:
    """The files among ``ids`` (unknown ones left out), newest first, as one page."""
    wanted = list(dict.fromkeys(i for i in ids if i))
    if len(wanted) > _MAX_IDS:
        raise errors.InvalidRequestError(
            f"ids: List should have at most {_MAX_IDS} items after validation, not {len(wanted)}"
        )
    found = [f for i in wanted if (f := await call.state.store.get_file(i)) is not None]
    found = [f for f in found if scope_id is None or f["scope_id"] == scope_id]
    found.sort(key=lambda f: f["seq"], reverse=True)
    return _list_page([to_api(f) for f in found], False, None)


def _list_page(data: list[dict[str, Any]], has_more: bool, next_page: str | None) -> dict[str, Any]:
    # Both pagination styles: first_id/last_id (the API reference, older SDKs)
    # and the opaque next_page cursor that current SDKs follow.
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "next_page": next_page,
    }


def _page(direction: str, file_id: str) -> str:
    return "page_" + base64.urlsafe_b64encode(f"{direction}:{file_id}".encode()).decode().rstrip("=")


def _read_page(page: str) -> tuple[str | None, str | None]:
    """``page`` as (after_id, before_id)."""
    try:
        raw = page.removeprefix("page_")
        direction, _, file_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        direction, file_id = "", ""
    if not page.startswith("page_") or direction not in ("after", "before") or not file_id:
        raise errors.InvalidRequestError(f"page: invalid page cursor {page!r}")
    return (file_id, None) if direction == "after" else (None, file_id)


# -- bytes ----------------------------------------------------------------------------


async def _opened(call: Call, file_id: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in call.state.blobs.get(file_id):
            yield chunk
    except FileNotFoundError:
        raise not_found(file_id) from None


async def _read(call: Call, file_id: str) -> bytes:
    return b"".join([chunk async for chunk in _opened(call, file_id)])


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


def _attachment(filename: str) -> str:
    # Headers are Latin-1: a plain ASCII name, plus the exact one (RFC 6266) when they differ.
    plain = filename.encode("ascii", "replace").decode()
    header = f'attachment; filename="{plain}"'
    return header if plain == filename else f"{header}; filename*=UTF-8''{quote(filename)}"


# -- multipart upload -------------------------------------------------------------------


def _boundary(call: Call) -> bytes:
    headers = call.headers
    content_type, options = parse_options_header(headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise errors.InvalidRequestError(_NOT_MULTIPART)
    boundary = options.get(b"boundary")
    if not boundary:
        raise errors.InvalidRequestError("The multipart/form-data content-type header has no boundary")
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise errors.InvalidRequestError("Invalid content-length header")
        if int(length) > MAX_FILE_SIZE + _FRAMING:
            raise errors.RequestTooLargeError()  # refused before a byte is read
    return boundary


class _Form:
    """The parts of one multipart/form-data body, as they stream past."""

    def __init__(self, boundary: bytes) -> None:
        self.boundary = boundary
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
        parser = MultipartParser(self.boundary, self._callbacks())  # type: ignore[arg-type]
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise errors.InvalidRequestError("Client disconnected before the request body was read")
            body = message.get("body", b"")
            received += len(body)
            if received > MAX_FILE_SIZE + _FRAMING:
                raise errors.RequestTooLargeError()
            try:
                parser.write(body)
            except FormParserError:
                raise errors.InvalidRequestError(_MALFORMED) from None
            if self._pending:
                chunks, self._pending = self._pending, []
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if not message.get("more_body", False):
                break
        if not self.complete:
            raise errors.InvalidRequestError(f"{_MALFORMED}: it ends before its closing boundary")

    def describe(self) -> tuple[str, str]:
        """The upload's filename and MIME type, once the body is read; refuses a bad form."""
        if not self.has_file:
            raise errors.InvalidRequestError("file: Field required")
        _expires_in(self.fields.get("expires_in_seconds"))
        filename = self.filename
        mime_type = self.part_type.decode("latin-1")
        if mime_type in ("", _OCTETS) or not _MIME.match(mime_type):
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
            if self.size > MAX_FILE_SIZE:
                raise errors.RequestTooLargeError()
            self._pending.append(data[start:end])
            return
        field = self.fields[self._name]
        field += data[start:end]
        if len(field) > _MAX_FIELD:
            raise errors.InvalidRequestError(f"{self._name}: value too long")

    def _end(self) -> None:
        self.complete = True


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
