"""``dateline check-upgrade``: would an app's recorded requests survive an
upgrade to another API version?

    dateline check-upgrade --to 2026-10-21 --url http://127.0.0.1:8000
    dateline check-upgrade --to 2026-10-21 --cassette upstream.jsonl --json

Reads the requests (a running server's request log, a cassette, or a JSONL
file of bodies), lets ``upgrade`` validate them under the target version, and
prints the refusals grouped by cause. Exit 1 when a request would be refused,
0 when none would, 2 when the input cannot be used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from .upgrade import Report

#: Request ids shown per cause in the table (``--json`` lists them all).
EXAMPLES = 3


def check_upgrade(
    to: Annotated[
        Optional[str], typer.Option("--to", metavar="VERSION", help="The version to upgrade to (default: the newest).")
    ] = None,
    url: Annotated[
        Optional[str], typer.Option("--url", help="Read the request log of the Dateline serving here.")
    ] = None,
    admin_token: Annotated[
        Optional[str],
        typer.Option("--admin-token", envvar="DATELINE_ADMIN_TOKEN", help="The server's admin token, if it has one."),
    ] = None,
    cassette: Annotated[
        Optional[Path], typer.Option("--cassette", dir_okay=False, help="Read the requests recorded in this cassette.")
    ] = None,
    requests: Annotated[
        Optional[Path],
        typer.Option(
            "--requests",
            dir_okay=False,
            help='Read this JSONL file: a Messages body per line, or {"path": ..., "body": ...}.',
        ),
    ] = None,
    from_version: Annotated[
        Optional[str],
        typer.Option(
            "--from",
            metavar="VERSION",
            help="The version of requests that name none (default: the version before --to).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON, every failing request listed.")
    ] = False,
) -> None:
    """Validate recorded requests under another API version: which would be refused, and why."""
    from . import upgrade
    from .versions import VERSIONS

    dates = [version.date for version in VERSIONS]
    target = to or dates[0]
    for option, date in (("--to", target), ("--from", from_version)):
        if date is not None and date not in VERSIONS:
            _die(f"{option}: {date!r} is not a version; known: {', '.join(dates)}")
    if sum(source is not None for source in (url, cassette, requests)) != 1:
        _die("give one of --url, --cassette or --requests")
    # Requests that name no version were sent, presumably, under the one before the target.
    older = dates[dates.index(target) + 1 :]
    default_version = from_version or (older[0] if older else target)
    try:
        if url is not None:
            recorded = upgrade.from_request_log(_request_log(url, admin_token))
            where = f"the request log of {url}"
        else:
            path = cassette if cassette is not None else requests
            assert path is not None
            read = upgrade.from_cassette if cassette is not None else upgrade.from_requests_file
            recorded = read(_read(path), str(path))
            where = str(path)
    except upgrade.UnusableInput as exc:
        _die(str(exc))
    if not recorded:
        _die(f"no requests to check in {where}")
    report = upgrade.check(recorded, target, default_version=default_version)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(report)
    raise typer.Exit(1 if report.breaks else 0)


def _die(message: str) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _die(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}")


def _request_log(url: str, admin_token: str | None) -> object:
    headers = {"x-dateline-admin-token": admin_token} if admin_token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/_dateline/requests", headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        _die(f"cannot reach {url}: {exc or type(exc).__name__}")
    if response.status_code == 401:
        _die(f"{url} refused the admin token: give the server's with --admin-token")
    if not response.is_success:
        _die(f"{url} has no request log to read (HTTP {response.status_code} from /_dateline/requests)")
    try:
        return response.json()
    except ValueError:
        _die(f"{url}/_dateline/requests did not answer with JSON")


def _print(report: Report) -> None:
    console = Console()
    summary = f"{report.checked} requests checked under {report.target}: "
    summary += f"{len(report.refusals)} would be refused" if report.breaks else "none would be refused"
    notes = []
    if report.skipped:
        notes.append(f"{report.skipped} skipped, already refused under their own version")
    if report.other:
        notes.append(f"{report.other} not checked, no request body to validate")
    summary += f" ({'; '.join(notes)})." if notes else "."
    console.print(Text(summary), soft_wrap=True)
    if not report.breaks:
        return
    causes = report.causes()
    if not console.is_terminal:
        # Piped or captured: one cause per block, messages never wrapped to a guessed width.
        for group in causes:
            refs = [r.ref for r in group.refusals]
            print(f"\n{len(refs)} × {group.cause}")
            print(f"  e.g. {', '.join(refs[:EXAMPLES])}{', …' if len(refs) > EXAMPLES else ''}")
            print(f"  {group.refusals[0].message}")
        return
    table = Table("cause", "count", "requests", "message (first request)", show_lines=True)
    table.columns[1].justify = "right"
    for group in causes:
        refs = [r.ref for r in group.refusals]
        examples = "\n".join(refs[:EXAMPLES]) + ("\n…" if len(refs) > EXAMPLES else "")
        # Text, not markup: the API's messages contain brackets and backticks.
        table.add_row(Text(group.cause), str(len(refs)), Text(examples), Text(group.refusals[0].message))
    console.print(table)
