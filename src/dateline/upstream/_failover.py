"""One request to a model's pool of upstreams: each in the pool's order
until one answers.

An upstream that cannot be reached (nothing was sent) sits out the pool's
cool-down and the next one is tried; when none answers, the client gets 529
``overloaded_error``, or 504 ``timeout_error`` if one timed out. Whether a
request an upstream did receive may go on to the next one (after a timeout,
a broken connection, a 429 or a 5xx) is the backend's call: ``resend``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from .. import errors
from ._answer import broken
from ._cassette import NoRecordedExchange
from ._client import Clients
from ._credentials import shown_url
from ._pool import Pool, Target, Upstream

logger = logging.getLogger("dateline")

#: Failures where the request never left: any upstream may have it.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout)


def struggling(status: int) -> bool:
    """An answer that says the upstream is overloaded or failing: it sits out the cool-down."""
    return status == 429 or status >= 500


async def send(
    pool: Pool[Target],
    clients: Clients,
    path: str,
    body: dict[str, Any] | Callable[[Upstream], dict[str, Any]],
    headers: Callable[[Upstream], dict[str, str]],
    *,
    resend: bool,
) -> tuple[Target, httpx.Response]:
    """``POST path`` with ``body`` (its ``model`` the target's; a function of the
    upstream when upstreams differ in what they take) to the first
    upstream that answers: the target and its response, status unchecked and
    body unread."""
    timed_out: list[str] = []
    unreachable: list[str] = []
    order = pool.order()
    for position, target in enumerate(order):
        upstream = target.upstream
        client = clients.get(upstream)
        content = orjson.dumps({**(body(upstream) if callable(body) else body), "model": target.model})
        outgoing = client.build_request("POST", path, content=content, headers=headers(upstream))
        try:
            response = await client.send(outgoing, stream=True)
        except NoRecordedExchange as exc:
            raise errors.InvalidRequestError(str(exc)) from None
        except httpx.TransportError as exc:
            pool.failed(target)
            if not resend and not isinstance(exc, _UNSENT):
                raise broken(upstream, exc) from None
            logger.warning("upstream %s failed: %r", upstream.name, exc)
            failed = timed_out if isinstance(exc, httpx.TimeoutException) else unreachable
            failed.append(f"{upstream.name} ({shown_url(upstream.base_url)})")
            continue
        if struggling(response.status_code):
            pool.failed(target)
            if resend and position < len(order) - 1:
                logger.warning("upstream %s answered %s; trying the next", upstream.name, response.status_code)
                await _discard(response)
                continue
        elif response.status_code < 400:
            pool.succeeded(target)
        return target, response
    if timed_out:
        raise errors.TimeoutError(f"The upstream did not answer in time: {', '.join(timed_out)}")
    raise errors.OverloadedError(f"Overloaded: no upstream could be reached: {', '.join(unreachable)}")


async def _discard(response: httpx.Response) -> None:
    # Read to the end, so that a recorder keeps the whole answer and the connection is reused.
    try:
        await response.aread()
    except httpx.TransportError:
        pass
    finally:
        await response.aclose()
