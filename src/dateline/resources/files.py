"""Files: ``/v1/files`` (beta ``files-api-2025-04-14``), and the content of
uploaded files for messages that name them.

An upload is parsed as it arrives: the ``file`` part streams straight into
the blob store, so no file is held in memory or spooled twice. Metadata
lives in the store, the bytes in the blob store under the file's id.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.responses import StreamingResponse

from .. import errors
from ..ids import new_id
from ..operation import Call
from ._paging import DEFAULT_LIMIT, PageQuery, envelope, window
from ._upload import Form, boundary, is_media_type
from .batches import rfc3339

MB = 1024 * 1024
#: The API's limit per file. Read at each upload, so a test may lower it.
MAX_FILE_SIZE = 500 * MB
_MAX_IDS = 100
#: What may not stand in a quoted filename: anything but visible ASCII, and the quote and backslash.
_NOT_PLAIN = re.compile(r'[^\x20-\x7e]|["\\]')

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
    form = Form(boundary(call, MAX_FILE_SIZE), MAX_FILE_SIZE)
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
    # With ids the answer is one page, of every file found unless a limit cuts it.
    paging = _page_query(query, default_limit=_MAX_IDS if ids else DEFAULT_LIMIT)
    scope_id = query.get("scope_id")
    try:
        if ids:
            return await _listed(call, ids, paging, scope_id)
        rows, has_more = await call.state.store.list_files(
            after_id=paging.after_id, before_id=paging.before_id, limit=paging.limit, scope_id=scope_id
        )
    except KeyError as exc:
        raise paging.unknown(exc.args[0], "file") from None
    data = [to_api(row) for row in rows]
    next_page = None
    if has_more:
        # Onwards in the direction asked: towards older files unless paging back with before_id.
        backwards = paging.before_id and not paging.after_id
        next_page = _page("before", data[0]["id"]) if backwards else _page("after", data[-1]["id"])
    return envelope(data, has_more, next_page=next_page)


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
    # Uploads are checked now, but a row stored before may hold what no header can carry.
    mime_type = file["mime_type"]
    headers = {
        "content-type": mime_type if is_media_type(mime_type) else "application/octet-stream",
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


async def _listed(call: Call, ids: list[str], paging: PageQuery, scope_id: str | None) -> dict[str, Any]:
    """The files among ``ids`` (unknown ones left out), newest first: one page
    (``next_page`` null, as the API documents), cut to the page size."""
    wanted = list(dict.fromkeys(i for i in ids if i))
    if len(wanted) > _MAX_IDS:
        raise errors.InvalidRequestError(
            f"ids: List should have at most {_MAX_IDS} items after validation, not {len(wanted)}"
        )
    found = [f for i in wanted if (f := await call.state.store.get_file(i)) is not None]
    found = [f for f in found if scope_id is None or f["scope_id"] == scope_id]
    found.sort(key=lambda f: f["seq"], reverse=True)
    chosen, has_more = window(found, paging, _file_id)
    return envelope([to_api(f) for f in chosen], has_more, next_page=None)


def _file_id(file: dict[str, Any]) -> str:
    return file["id"]


def _page_query(query: Mapping[str, str], *, default_limit: int) -> PageQuery:
    """The page asked for: by ``after_id`` / ``before_id`` (the API reference,
    older SDKs), or by the opaque ``page`` cursor of a ``next_page`` (current SDKs)."""
    page = query.get("page")
    if not page:
        return PageQuery.of(query, default_limit=default_limit)
    if query.get("after_id") or query.get("before_id"):
        raise errors.InvalidRequestError("page: cannot be combined with `after_id` or `before_id`")
    after_id, before_id = _read_page(page)
    return replace(PageQuery.of(query, default_limit=default_limit), after_id=after_id, before_id=before_id, via="page")


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
    # A plain name of visible ASCII (any other character a "?"), plus the exact
    # one percent-encoded (RFC 6266) when they differ: nothing a header cannot carry.
    plain = _NOT_PLAIN.sub("?", filename)
    header = f'attachment; filename="{plain}"'
    exact = quote(filename.encode("utf-8", "replace"), safe="")
    return header if plain == filename else f"{header}; filename*=UTF-8''{exact}"
