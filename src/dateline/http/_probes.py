"""For load balancers, orchestrators and Prometheus: ``GET /health`` (the
process answers), ``GET /ready`` (it can serve: the store reachable with its
migrations done, Redis reachable when configured) and ``GET /metrics``
(guarded like the admin API)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response

from .. import errors, metrics
from ..ids import request_id
from ..state import State
from ..store import CANCELED, ERRORED, EXPIRED, HEAD, PENDING, RUNNING, SUCCEEDED
from ._auth import check_admin
from ._edge import error_response
from ._observe import report

logger = logging.getLogger("dateline")

#: Seconds each readiness check may take: a store that does not answer in time is not ready.
CHECK_TIMEOUT = 2.0
_STATES = (PENDING, RUNNING, SUCCEEDED, ERRORED, CANCELED, EXPIRED)
_JSON = "application/json"


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=_JSON)


async def ready(request: Request) -> Response:
    state: State = request.app.state.dateline
    checks: dict[str, str] = {}
    checks["store"], checks["migrations"] = await _store(state)
    if state.redis is not None:
        checks["redis"] = await _check(state.redis.ping())
    ok = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type=_JSON)


async def _store(state: State) -> tuple[str, str]:
    async def revision() -> Any:
        async with state.store.reader.connect() as conn:
            return (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()

    try:
        found = await asyncio.wait_for(revision(), CHECK_TIMEOUT)
    except TimeoutError:
        return "timed out", "unknown"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says which
        return _failure(exc), "unknown"
    return "ok", "ok" if found == HEAD else f"at {found or 'none'}, expected {HEAD}"


async def _check(awaitable: Any) -> str:
    try:
        await asyncio.wait_for(awaitable, CHECK_TIMEOUT)
    except TimeoutError:
        return "timed out"
    except Exception as exc:  # noqa: BLE001
        return _failure(exc)
    return "ok"


def _failure(exc: Exception) -> str:
    # The kind of failure only: a driver's message may quote the URL, password and all.
    return f"unreachable ({type(exc).__name__})"


async def scrape(request: Request) -> Response:
    """The Prometheus text: every worker's counts, and the batch requests by state as the store has them."""
    state: State = request.app.state.dateline
    try:
        check_admin(request.scope["headers"], state.settings.admin_token)
    except errors.APIError as exc:
        return error_response(exc, request_id())
    extra = []
    try:
        counts = await asyncio.wait_for(_batch_states(state), CHECK_TIMEOUT)
    except Exception:  # noqa: BLE001 - the counted metrics are still worth a scrape
        logger.warning("metrics: batch requests not counted (the store did not answer)", exc_info=True)
    else:
        family = GaugeMetricFamily(
            "dateline_batch_requests", "Batch requests in the store, by state.", labels=("state",)
        )
        for name in _STATES:
            family.add_metric((name,), counts.get(name, 0))
        extra.append(family)
    report()  # the requests ended in this turn of the event loop, counted first
    return Response(metrics.scrape(extra), media_type=metrics.CONTENT_TYPE)


async def _batch_states(state: State) -> dict[str, int]:
    async with state.store.reader.connect() as conn:
        rows = await conn.execute(sa.text("SELECT state, COUNT(*) FROM batch_requests GROUP BY state"))
        return {name: count for name, count in rows}
