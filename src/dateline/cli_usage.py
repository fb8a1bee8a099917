"""``dateline usage``: requests, tokens and cost per key, model and day (UTC).

Read where the servers count them: the Redis of ``--redis-url`` (or
``DATELINE_REDIS_URL``, as ``serve`` takes it), or, for a server counting in
its own process (no Redis), its admin API (``--url``, ``--admin-token``).

    dateline usage --since 2026-12-01 --key apikey_011C…
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

COUNTERS = ("requests", "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
HEADINGS = ("requests", "input", "output", "cache writes", "cache reads")


def usage(
    key: Annotated[str | None, typer.Option("--key", help="Only this key's id.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this day (YYYY-MM-DD, UTC), inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="To this day (YYYY-MM-DD, UTC), inclusive.")] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="The servers' Redis (default: DATELINE_REDIS_URL).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Ask a running server instead (http://host:port), for one without Redis."),
    ] = None,
    admin_token: Annotated[
        str | None, typer.Option("--admin-token", help="The server's admin token (default: DATELINE_ADMIN_TOKEN).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the JSON of /_dateline/usage.")] = False,
) -> None:
    """Usage per key, model and day: requests, input, output and cache tokens, cost in USD."""
    for name, day in (("--since", since), ("--until", until)):
        if day is not None and not _is_day(day):
            _die(f"{name}: expected a date, YYYY-MM-DD, got {day!r}")
    query = {name: value for name, value in {"key": key, "since": since, "until": until}.items() if value}
    answer = _from_server(url, admin_token, query) if url else _from_redis(redis_url, query)
    if json:
        import orjson

        typer.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
        return
    _table(answer)


def _is_day(value: str) -> bool:
    try:
        return len(value) == 10 and bool(datetime.date.fromisoformat(value))
    except ValueError:
        return False


def _die(message: str, code: int = 2) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _from_redis(redis_url: str | None, query: dict[str, str]) -> dict[str, Any]:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from .settings import Settings
    from .usage import Counts, RedisSink

    try:
        redis_url = redis_url or Settings().redis_url
    except (ValidationError, SettingsError, ValueError) as exc:
        _die(str(exc))
    if not redis_url:
        _die("usage is counted in Redis (--redis-url) or in a server's own process (--url): give one")

    async def read() -> dict[str, Any]:
        from redis.asyncio import Redis

        sink = RedisSink(Redis.from_url(redis_url))
        try:
            rows = await sink.rows(**query)
        finally:
            await sink.aclose()
        total = Counts()
        for row in rows:
            total.add(row.counts)
        return {"data": [row.as_dict() for row in rows], "total": total.as_dict()}

    try:
        return asyncio.run(read())
    except (OSError, ValueError) as exc:
        _die(f"cannot read Redis: {exc}")
    except Exception as exc:  # redis-py's errors (connection, auth) share no base with OSError
        _die(f"cannot read Redis: {exc}")


def _from_server(url: str, admin_token: str | None, query: dict[str, str]) -> dict[str, Any]:
    import os

    import httpx

    token = admin_token or os.environ.get("DATELINE_ADMIN_TOKEN")
    headers = {"x-dateline-admin-token": token} if token else {}
    try:
        response = httpx.get(url.rstrip("/") + "/_dateline/usage", params=query, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        _die(f"cannot reach {url}: {exc}")
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200:
        _die(f"{url} answered {response.status_code}: {(body.get('error') or {}).get('message', response.text)}")
    return body


def _table(answer: dict[str, Any]) -> None:
    console = Console()
    rows = answer["data"]
    if not console.is_terminal:
        for row in rows:
            fields = [row["day"], row["key"], row["model"], *(str(row[c]) for c in COUNTERS), row["cost_usd"]]
            typer.echo("\t".join(fields))
        return
    table = Table(title="Usage (UTC days)", show_footer=bool(rows))
    table.add_column("day", footer="total")
    table.add_column("key")
    table.add_column("model")
    total = answer["total"]
    for counter, heading in zip(COUNTERS, HEADINGS, strict=True):
        table.add_column(heading, justify="right", footer=f"{total[counter]:,}")
    table.add_column("cost (USD)", justify="right", footer=total["cost_usd"])
    for row in rows:
        table.add_row(row["day"], row["key"], row["model"], *(f"{row[c]:,}" for c in COUNTERS), row["cost_usd"])
    if not rows:
        console.print("no usage counted in these days")
        return
    console.print(table)
