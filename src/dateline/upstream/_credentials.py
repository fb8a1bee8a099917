"""The credentials an upstream request carries, and keeping them out of what
is kept or passed on: a cassette, and an upstream's error, which may quote
the key it was sent (a client would then read Dateline's own upstream key,
and a batch result or the request log would keep it).

A credential is the value of a header whose name says it holds one
(``authorization``, ``x-api-key``, ``x-goog-api-key``, ``x-auth-token``,
cookies…), the token of an ``Authorization: <scheme> <token>`` value, or
such a parameter of the URL's query. Values shorter than ``SHORTEST`` are not
looked for in bodies: blanking out every ``k`` of a test's ``api_key="k"``
would wreck what is recorded, and no real key is that short.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx

from ..credentials import REDACTED, is_credential

SHORTEST = 8
#: Headers that say how the body was framed or encoded: wrong once the body is rewritten.
_FRAMING = frozenset({"content-length", "transfer-encoding", "content-encoding"})


def credentials(request: httpx.Request) -> list[bytes]:
    """The credentials ``request`` carries, longest first (one may contain another)."""
    found: set[str] = set()
    for name, value in request.headers.items():
        if is_credential(name):
            found.add(value.strip())
            found.add(value.strip().partition(" ")[2].strip())  # the token of "Bearer <token>"
    for name, value in parse_qsl(request.url.query.decode("ascii", "replace"), keep_blank_values=True):
        if is_credential(name):
            found.add(value)
    return sorted((v.encode("utf-8", "replace") for v in found if len(v) >= SHORTEST), key=len, reverse=True)


def redact(data: bytes, secrets: list[bytes]) -> bytes:
    for secret in secrets:
        data = data.replace(secret, REDACTED.encode())
    return data


def redact_text(text: str, secrets: list[bytes]) -> str:
    for secret in secrets:
        text = text.replace(secret.decode("utf-8", "replace"), REDACTED)
    return text


def redact_query(target: str) -> str:
    """A path and query with the values of credential parameters blanked out."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if eq and is_credential(name) else part)
    return f"{path}?{'&'.join(parts)}"


def shown_url(url: str) -> str:
    """A URL as an error or a log may show it: no ``user:password@``, no credential in its query."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact_query(url)
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{redact_query(slash + path)}"


async def without_credentials(response: httpx.Response) -> httpx.Response:
    """``response`` read whole, with any credential of its request blanked out
    of its body and headers."""
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    secrets = credentials(response.request)
    headers = response.headers.multi_items()
    if not any(secret in body for secret in secrets) and not any(
        secret.decode("utf-8", "replace") in value for secret in secrets for _, value in headers
    ):
        return response
    return httpx.Response(
        response.status_code,
        headers=[(name, redact_text(value, secrets)) for name, value in headers if name not in _FRAMING],
        content=redact(body, secrets),
        request=response.request,
        extensions=response.extensions,
    )
