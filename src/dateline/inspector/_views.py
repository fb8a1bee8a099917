"""The inspector's pages: requests (live), one request, rules, batches, files, keys and usage, versions.

Each page reads what the admin API reads, through the same functions where
there is one (rules, keys, usage, the batch and file lists).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from .. import errors
from ..ids import request_id
from ..operation import Call
from ..requestlog import STREAM_EVENTS
from ..resources import admin, batches, files
from ..state import State
from ..versions import VERSIONS, VersionChange
from ._page import render, templates
from ._summary import migration, pretty, summary

#: Seconds a live list waits for a request before saying it is still there (a comment line).
KEEPALIVE = 15.0
#: Seconds between looks at rows whose stream is still going (a stream's end also wakes the list).
STREAMING = 1.0


def _call(request: Request, state: State, raw: bytes = b"") -> Call:
    """The admin API's handlers take a ``Call``: this request's, as they would see it."""
    return Call(request_id(), state, request.scope, raw=raw)


def _rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, "summary": summary(entry)} for entry in entries]


async def requests_page(request: Request, state: State) -> Response:
    added, entries = await state.log.since(0)
    context = {"rows": _rows(entries)[::-1], "added": added, "log_size": state.log.size}
    return render(request, "requests.html", context)


async def live(request: Request, state: State) -> Response:
    """New rows as server-sent events (``event: rows``, oldest first), each event's id the log's count."""
    try:
        seen = int(request.headers.get("last-event-id") or request.query_params.get("after") or 0)
    except ValueError:
        raise errors.InvalidRequestError("after: Input should be a valid integer") from None
    log = state.log
    row = templates.get_template("_row.html")

    async def stream() -> AsyncIterator[bytes]:
        nonlocal seen
        streaming: set[str] = set()  # rows sent while their stream went on: sent again once it ends
        yield b"retry: 1000\n\n"
        while True:
            added = await log.wait(seen, STREAMING if streaming else KEEPALIVE)
            if added < seen:
                seen = 0  # the log started over (another server on this address)
            entries = []
            if added > seen:
                seen, entries = await log.since(seen)
            for rid in streaming - {entry["request_id"] for entry in entries}:
                found = await log.find(rid)
                if found is None or not found["streaming"]:
                    streaming.discard(rid)
                    entries += [found] if found is not None else []
            if not entries:
                yield b": waiting\n\n"
                continue
            streaming.update(entry["request_id"] for entry in entries if entry["streaming"])
            html = "".join(row.render(row=item) for item in _rows(entries))
            data = "".join(f"data: {line}\n" for line in html.splitlines())
            yield f"event: rows\nid: {seen}\n{data}\n".encode()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def request_page(request: Request, state: State) -> Response:
    rid = request.path_params["request_id"]
    entry = await state.log.find(rid)
    if entry is None:
        raise errors.NotFoundError(f"No request {rid} in the request log (it keeps the last {state.log.size})")
    context = {
        "entry": entry,
        "summary": summary(entry),
        "migration": migration(entry),
        "pretty": pretty,
        "stream_events": STREAM_EVENTS,
    }
    return render(request, "request.html", context)


async def rules_page(request: Request, state: State) -> Response:
    return _rules(request, await admin.get_rules(_call(request, state)))


def _rules(request: Request, described: dict[str, Any], text: str | None = None, error: str | None = None) -> Response:
    if text is None:
        rules = [{k: v for k, v in rule.items() if k != "hits"} for rule in described["rules"]]
        source: Any = {"rules": rules, "web": described["web"]} if "web" in described else rules
        text = yaml.safe_dump(source, sort_keys=False, allow_unicode=True) if rules or "web" in described else ""
    context = {"rules": described["rules"], "text": text, "error": error, "pretty": pretty}
    return render(request, "rules.html", context, 400 if error else 200)


async def load_rules(request: Request, state: State) -> Response:
    """The form's rules (YAML or JSON) replace the rules, as ``PUT /_dateline/rules`` does."""
    form = await request.form()
    text = str(form.get("rules") or "")
    call = _call(request, state, raw=text.encode())
    try:
        await admin.put_rules(call)
    except errors.InvalidRequestError as exc:
        return _rules(request, await admin.get_rules(call), text, exc.message)
    return RedirectResponse("/_dateline/ui/rules", status_code=303)


async def clear_rules(request: Request, state: State) -> Response:
    await admin.delete_rules(_call(request, state))
    return RedirectResponse("/_dateline/ui/rules", status_code=303)


async def batches_page(request: Request, state: State) -> Response:
    """The batches as the API lists them, with progress the API only tallies at the end (the store's counts)."""
    listed = await batches.list_batches(_call(request, state))
    rows = []
    for batch in listed["data"]:
        stored = await state.store.get_batch(batch["id"])
        done = sum(stored[k] for k in ("succeeded", "errored", "canceled", "expired")) if stored else 0
        total = stored["total"] if stored else 0
        rows.append({"batch": batch, "done": done, "total": total, "counts": stored})
    running = any(row["batch"]["processing_status"] != "ended" for row in rows)
    return render(request, "batches.html", {"rows": rows, "listed": listed, "running": running})


async def files_page(request: Request, state: State) -> Response:
    return render(request, "files.html", {"listed": await files.list_files(_call(request, state))})


async def keys_page(request: Request, state: State) -> Response:
    call = _call(request, state)
    keys = await admin.list_keys(call)
    usage = await admin.get_usage(call)
    return render(request, "keys.html", {"keys": keys, "usage": usage})


async def versions_page(request: Request, state: State) -> Response:
    versions = [
        {
            "date": version.date,
            "description": version.description,
            "head": version is VERSIONS.head,
            "changes": [
                {
                    "name": change.__name__,
                    "description": change.description,
                    "endpoints": sorted(change.endpoints),
                    "migrates": _migrates(change),
                }
                for change in version.changes
            ],
        }
        for version in VERSIONS
    ]
    return render(request, "versions.html", {"versions": versions})


async def home(request: Request, state: State) -> Response:
    return RedirectResponse("/_dateline/", status_code=307)


def _migrates(change: type[VersionChange]) -> list[str]:
    """What a change carries between versions: requests up, responses and streams down, the schema."""
    found = ["request"] if change.changes_requests() else []
    found += [
        what for what, method in (("response", "response_down"), ("stream", "stream_down")) if change.overrides(method)
    ]
    return found + (["schema"] if change.schema else [])
