"""Who is calling: the API key of a Claude API request, the admin token of
an admin one. Both may come as ``Authorization: Bearer``."""

from __future__ import annotations

import hmac

from .. import errors


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, if that is what it is."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(api_key: str | None, authorization: str | None, accepted: frozenset[str] | None) -> str:
    """The caller's key. With both headers, ``x-api-key`` decides, as the API does;
    a refused key is named by the header it came in."""
    key = api_key.strip() if api_key else None
    if key:
        if accepted is not None and key not in accepted:
            raise errors.AuthenticationError("invalid x-api-key")
        return key
    token = bearer(authorization)
    if token is None:
        raise errors.AuthenticationError("x-api-key header is required")
    if accepted is not None and token not in accepted:
        raise errors.AuthenticationError("Invalid bearer token")
    return token


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
