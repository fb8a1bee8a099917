"""The inspector: Dateline's own web pages under ``/_dateline/``, guarded like the admin API.

Server-rendered (Jinja2 templates in ``templates/``) with a little progressive
enhancement: htmx and a few lines of script, served from ``static/`` (nothing
is fetched from elsewhere). The pages read the request log, the rules, the
store and the version history; the list of requests follows the log live,
over server-sent events.
"""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..state import State
from . import _views as views
from ._page import HERE, Page

#: Where the pages live; ``/_dateline/`` itself is the list of requests.
PREFIX = "/_dateline/ui"


def routes(state: State) -> list[Route | Mount]:
    return [
        Route("/_dateline", Page(state, get=views.home)),
        Route("/_dateline/", Page(state, get=views.requests_page)),
        Route(f"{PREFIX}/live", Page(state, get=views.live)),
        Route(f"{PREFIX}/requests/{{request_id}}", Page(state, get=views.request_page)),
        Route(f"{PREFIX}/rules", Page(state, get=views.rules_page, post=views.load_rules)),
        Route(f"{PREFIX}/rules/clear", Page(state, post=views.clear_rules)),
        Route(f"{PREFIX}/batches", Page(state, get=views.batches_page)),
        Route(f"{PREFIX}/files", Page(state, get=views.files_page)),
        Route(f"{PREFIX}/keys", Page(state, get=views.keys_page)),
        Route(f"{PREFIX}/versions", Page(state, get=views.versions_page)),
        # Scripts and styles only, the same for everyone: not guarded, so the sign-in page has them too.
        Mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static")),
    ]
