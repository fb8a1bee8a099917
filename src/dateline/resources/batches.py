"""Message Batches: ``/v1/messages/batches`` and its results.

Creating a batch only checks its envelope (each request's ``custom_id`` and
that ``params`` is an object) and stores it; each request's params are
validated when it is processed, and a bad one becomes an ``errored``
result, as the API does. See ``batch_processor`` for the processing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import StreamingResponse

from .. import errors, faults
from ..ids import new_id
from ..operation import Call
from ..store import CANCELED, EXPIRED
from ._paging import PageQuery, envelope

logger = logging.getLogger("dateline")

MAX_REQUESTS = 100_000
CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    custom_id: Annotated[str, StringConstraints(pattern=CUSTOM_ID_PATTERN)]
    params: dict[str, Any]


class BatchCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: Annotated[list[BatchRequest], Field(min_length=1, max_length=MAX_REQUESTS)]


async def create(call: Call) -> dict[str, Any]:
    requests = call.params.requests
    seen: set[str] = set()
    for i, request in enumerate(requests):
        if request.custom_id in seen:
            raise errors.InvalidRequestError(
                f"requests.{i}.custom_id: Duplicate custom_id '{request.custom_id}'; "
                "custom_id must be unique within a Message Batch"
            )
        seen.add(request.custom_id)
    now = time.time()
    batch = {
        "id": new_id("msgbatch"),
        "version": call.version or "2023-06-01",
        # Its requests draw on this key's batch limits and count as its usage.
        "api_key_id": call.key.id if call.key is not None else None,
        "processing_status": "in_progress",
        "total": len(requests),
        "created_at": now,
        "expires_at": now + call.state.settings.batch_expiry,
    }
    rows = [(r.custom_id, orjson.dumps(r.params).decode()) for r in requests]
    await call.state.store.create_batch(batch, rows)
    if call.state.processor is not None:
        call.state.processor.wake()
    return to_api(batch | {"seq": 0, "ended_at": None, "cancel_initiated_at": None, "archived_at": None}, call)


async def retrieve(call: Call) -> dict[str, Any]:
    return to_api(await _batch(call), call)


async def list_batches(call: Call) -> dict[str, Any]:
    query = PageQuery.of(call.query)
    try:
        rows, has_more = await call.state.store.list_batches(
            after_id=query.after_id, before_id=query.before_id, limit=query.limit
        )
    except KeyError as exc:
        raise query.unknown(exc.args[0], "message batch") from None
    return envelope([to_api(row, call) for row in rows], has_more)


async def cancel(call: Call) -> dict[str, Any]:
    batch_id = call.path_params["batch_id"]
    batch = await call.state.store.cancel_batch(batch_id, time.time())
    if batch is None:
        raise _not_found(batch_id)
    return to_api(batch, call)


async def delete(call: Call) -> dict[str, Any]:
    batch = await _batch(call)
    if batch["processing_status"] != "ended":
        raise errors.InvalidRequestError(
            f"Message Batch {batch['id']} cannot be deleted while it is still processing; cancel it first"
        )
    if not await call.state.store.delete_batch(batch["id"]):
        raise _not_found(batch["id"])  # another request deleted it first
    return {"id": batch["id"], "type": "message_batch_deleted"}


async def results(call: Call) -> StreamingResponse:
    batch = await _batch(call)
    if batch["processing_status"] != "ended":
        raise errors.InvalidRequestError(
            f"Message Batch {batch['id']} has not finished processing; its results are not yet available"
        )
    lines = _lines(call.state.store.results(batch["id"], batch["total"]))
    try:
        first = await anext(lines)
    except KeyError:
        raise _not_found(batch["id"]) from None  # deleted meanwhile, before a line was sent
    return StreamingResponse(_whole(call.request_id, batch["id"], first, lines), media_type="application/binary")


async def _lines(rows: AsyncIterator[tuple[str, str, str | None]]) -> AsyncIterator[bytes]:
    async for custom_id, state, result in rows:
        if state in (CANCELED, EXPIRED):
            result = f'{{"type":"{state}"}}'
        yield b'{"custom_id":"%s","result":%s}\n' % (custom_id.encode(), (result or "null").encode())


async def _whole(rid: str, batch_id: str, first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines, or a connection broken before the end: a 200 that ends early
    would read as a whole, shorter file, so a batch deleted mid-download breaks
    the body off (the client's HTTP library raises on the unfinished chunked body)."""
    yield first
    try:
        async for line in rest:
            yield line
    except KeyError:
        logger.warning("request %s: message batch %s was deleted while its results were read", rid, batch_id)
        raise faults.DropConnection() from None


async def _batch(call: Call) -> dict[str, Any]:
    batch_id = call.path_params["batch_id"]
    batch = await call.state.store.get_batch(batch_id)
    if batch is None:
        raise _not_found(batch_id)
    return batch


def _not_found(batch_id: str) -> errors.APIError:
    return errors.NotFoundError(f"message_batch: {batch_id}")


def to_api(batch: dict[str, Any], call: Call) -> dict[str, Any]:
    ended = batch["processing_status"] == "ended"
    total = batch["total"]
    if ended:
        counts = {k: batch[k] for k in ("succeeded", "errored", "canceled", "expired")}
        counts = {"processing": 0, **counts}
    else:
        # The API tallies a request only once the whole batch has ended.
        counts = {"processing": total, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    return {
        "id": batch["id"],
        "type": "message_batch",
        "processing_status": batch["processing_status"],
        "request_counts": counts,
        "ended_at": rfc3339(batch["ended_at"]),
        "created_at": rfc3339(batch["created_at"]),
        "expires_at": rfc3339(batch["expires_at"]),
        "archived_at": rfc3339(batch["archived_at"]),
        "cancel_initiated_at": rfc3339(batch["cancel_initiated_at"]),
        "results_url": f"{base_url(call)}/v1/messages/batches/{batch['id']}/results" if ended else None,
    }


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def base_url(call: Call) -> str:
    """This server as the client reached it (or as configured behind a proxy).
    ``X-Forwarded-Host``/``-Proto`` count only from a trusted proxy: from anyone
    else they would let a client name another server in ``results_url``."""
    settings = call.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    headers = call.headers
    scheme, host = call.scope.get("scheme", "http"), headers.get("host")
    peer = call.scope.get("client")
    if settings.trusts_proxy(peer[0] if peer else None):
        # The first value of each is the client's (proxies in a chain append theirs).
        proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        scheme = proto if proto in ("http", "https") else scheme
        host = headers.get("x-forwarded-host", "").split(",")[0].strip() or host
    if not host:
        server = call.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"
