"""A page of the inspector: guarded like the admin API, rendered from a template.

A browser cannot send the admin API's header, so a page also takes the admin
token from a cookie, set by opening any page once with ``?token=…`` (the
address is then cleaned of it). The cookie is ``HttpOnly`` and
``SameSite=Strict``, and a form posted from another origin is refused, so
another site cannot make a browser change the rules.
"""

from __future__ import annotations

import datetime
import hmac
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope, Send

from .. import errors
from ..http._auth import check_admin
from ..state import State

logger = logging.getLogger("dateline")

COOKIE = "dateline-admin-token"
HERE = Path(__file__).parent

View = Callable[[Request, State], Awaitable[Response]]


def _clock(seconds: float, date: bool = False) -> str:
    """A log time as the pages show it, in UTC to the millisecond."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")[:-3]


def _ms(milliseconds: float | None) -> str:
    if milliseconds is None:
        return "—"
    return f"{milliseconds:.1f} ms" if milliseconds < 1000 else f"{milliseconds / 1000:.2f} s"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(clock=_clock, ms=_ms)


class Page:
    """The ASGI app of one inspector address: ``get`` and ``post`` views."""

    def __init__(self, state: State, get: View | None = None, post: View | None = None) -> None:
        self.state = state
        self.views = {method: view for method, view in (("GET", get), ("HEAD", get), ("POST", post)) if view}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        view = self.views.get(request.method)
        if view is None:
            allow = ", ".join(sorted(self.views))
            return render(request, "error.html", {"error": "Method not allowed"}, 405, headers={"allow": allow})
        token = self.state.settings.admin_token
        offered = request.query_params.get("token")
        if token and offered is not None and request.method in ("GET", "HEAD"):
            return _signed_in(request, token, offered)
        try:
            check_admin(_with_cookie(request), token)
        except errors.AuthenticationError:
            return render(request, "login.html", {"failed": COOKIE in request.cookies}, 401)
        if request.method == "POST" and not _same_origin(request):
            return render(request, "error.html", {"error": "A form from another site may not change this server"}, 403)
        try:
            return await view(request, self.state)
        except errors.APIError as exc:
            return render(request, "error.html", {"error": exc.message}, exc.status_code)


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status, headers=headers)


def _signed_in(request: Request, token: str, offered: str) -> Response:
    """``?token=`` given: the cookie set and the address cleaned of the token, or the sign-in page again."""
    if not hmac.compare_digest(offered.encode("latin-1", "replace"), token.encode()):
        return render(request, "login.html", {"failed": True}, 401)
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
    response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/_dateline/")
    return response


def _with_cookie(request: Request) -> list[tuple[bytes, bytes]]:
    """The request's headers, with the cookie's token as the admin header when none was sent."""
    headers = request.scope["headers"]
    cookie = request.cookies.get(COOKIE)
    if cookie is None or any(name == b"x-dateline-admin-token" for name, _ in headers):
        return headers
    return [*headers, (b"x-dateline-admin-token", cookie.encode("latin-1", "replace"))]


def _same_origin(request: Request) -> bool:
    """A form posted from this server's own pages (browsers send ``Origin`` with every POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site form
    return urlsplit(origin).netloc == request.headers.get("host")
