"""Files: ``/v1/files`` (beta ``files-api-2025-04-14``), and the content of
uploaded files for messages that name them.

An upload is parsed as it arrives: the ``file`` part streams straight into
the blob store, so no file is held in memory or spooled twice. Metadata
lives in the store, the bytes in the blob store under the file's id.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.responses import StreamingResponse

from .. import errors
from ..ids import new_id
from ..operation import Call
from ._upload import Form, boundary
from .batches import rfc3339
from .models import page_limit

MB = 1024 * 1024
#: The API's limit per file. Read at each upload, so a test may lower it.
MAX_FILE_SIZE = 500 * MB
_MAX_IDS = 100

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
