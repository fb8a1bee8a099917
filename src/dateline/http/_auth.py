"""Who is calling, and what it may do: the API key of a Claude API request
(one of the store's keys, one given with ``--api-key``, or any key while
neither exists), the models that key may use; the admin token of an admin
request. Keys and tokens may come as ``Authorization: Bearer``."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from .. import errors

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..keys import Key, KeyRing

#: Bodies bigger than this are read for their model off the event loop.
_INLINE_BYTES = 64 * 1024


class UnknownKey(errors.AuthenticationError):
    """A key that is none of the store's, as far as this process knows: one
    just made by another process would be found by reading the keys again."""


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, if that is what it is."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(
    api_key: str | None, authorization: str | None, accepted: frozenset[str] | None, ring: KeyRing
) -> tuple[str, Key | None]:
    """The caller's key, and the store's key it is (None for a key given with
    ``--api-key``, or any key while there are none). With both headers,
    ``x-api-key`` decides, as the API does; a refused key is named by the
    header it came in."""
    key = api_key.strip() if api_key else None
    refusal = "invalid x-api-key"
    if not key:
        key = bearer(authorization)
        if key is None:
            raise errors.AuthenticationError("x-api-key header is required")
        refusal = "Invalid bearer token"
    if accepted is not None and key in accepted:
        return key, None
    if not ring.defined:
        if accepted is not None:
            raise UnknownKey(refusal)  # the first key may have just been made
        return key, None
    found = ring.find(key)
    if found is None:
        raise UnknownKey(refusal)
    if not found.live:
        raise errors.AuthenticationError(refusal)
    ring.used(found)
    return key, found


async def check_models(key: Key, raw: bytes, catalog: Catalog) -> None:
    """A key kept to some models: the model of the request (of every request of
    a batch) is one of them, by the name sent or the one the catalog knows it
    by; else the API's permission error. A body that is not JSON is left for
    its own check to refuse."""
    try:
        body = orjson.loads(raw) if len(raw) <= _INLINE_BYTES else await asyncio.to_thread(orjson.loads, raw)
    except orjson.JSONDecodeError:
        return
    for model in _models(body):
        known = catalog.get(model)
        if not key.settings.allows(model, *((known.id,) if known is not None else ())):
            raise errors.PermissionError()


def _models(body: Any) -> Iterator[str]:
    if type(body) is not dict:
        return
    if type(body.get("model")) is str:
        yield body["model"]
    requests = body.get("requests")
    if type(requests) is list:
        for request in requests:
            params = request.get("params") if type(request) is dict else None
            if type(params) is dict and type(params.get("model")) is str:
                yield params["model"]


def check_admin(headers: list[tuple[bytes, bytes]], token: str | None) -> None:
    """The admin API's guard: ``x-dateline-admin-token`` or a Bearer token, when one is set.
    Compared in constant time: how long a refusal takes tells nothing of how much of a guess was right."""
    if not token:
        return
    offered = None
    for name, value in headers:
        if name == b"x-dateline-admin-token":
            offered = value.decode("latin-1").strip()
        elif name == b"authorization" and offered is None:
            offered = bearer(value.decode("latin-1"))
    if offered is None or not hmac.compare_digest(offered.encode("latin-1"), token.encode()):
        raise errors.AuthenticationError("invalid admin token")
