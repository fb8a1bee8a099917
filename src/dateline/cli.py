"""The ``dateline`` command: ``serve`` and ``versions``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .cli_batch import batch_app
from .cli_upgrade import check_upgrade

if TYPE_CHECKING:
    from .store import Store

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A faithful, version-aware Claude API server.")
app.add_typer(batch_app, name="batch")
app.command("check-upgrade")(check_upgrade)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="Interface to listen on (default: 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Port to listen on (default: 8000)."),
    api_key: list[str] = typer.Option([], "--api-key", help="Accept only this API key (repeatable)."),
    token_delay: Optional[float] = typer.Option(None, help="Seconds the built-in model waits per streamed token."),
    workers: Optional[int] = typer.Option(None, help="Worker processes."),
    log_level: Optional[str] = typer.Option(None, help="debug, info, warning or error."),
    script: Optional[str] = typer.Option(None, help="Rules file (YAML or JSON) of scripted replies and faults."),
    admin_token: Optional[str] = typer.Option(None, help="Token guarding the /_dateline/ admin API."),
    request_log_size: Optional[int] = typer.Option(None, help="Requests kept for /_dateline/requests (0: off)."),
    data_dir: Optional[str] = typer.Option(
        None, help="Where the SQLite database and uploaded files live (default: ~/.local/share/dateline)."
    ),
    database_url: Optional[str] = typer.Option(None, help="postgresql://… to keep state in PostgreSQL instead."),
    public_url: Optional[str] = typer.Option(None, help="This server's URL as clients see it (for results_url)."),
    batch_concurrency: Optional[int] = typer.Option(None, help="Batch requests each process works on at once (default: 32)."),
    batch_poll_interval: Optional[float] = typer.Option(None, help="Seconds between looks for batch work (default: 1.0)."),
    batch_lease: Optional[float] = typer.Option(None, help="Seconds a batch request is held before another may take it (default: 60)."),
    config: Optional[str] = typer.Option(None, help="TOML file mapping models to upstream servers."),
    openai_upstream: Optional[str] = typer.Option(
        None, help="Serve every model from this OpenAI-compatible server (URL ending in /v1)."
    ),
    openai_api_key: Optional[str] = typer.Option(None, help="Key for --openai-upstream."),
    anthropic_upstream: Optional[str] = typer.Option(
        None, help="Serve every model from this Anthropic-compatible server (its root URL)."
    ),
    anthropic_api_key: Optional[str] = typer.Option(
        None, help="Key for --anthropic-upstream (default: pass each client's key on)."
    ),
    upstream_timeout: Optional[float] = typer.Option(
        None, help="Seconds to wait for the upstream's answer, or between stream chunks (default: 600)."
    ),
    record: Optional[str] = typer.Option(None, help="Append every upstream exchange to this cassette."),
    replay: Optional[str] = typer.Option(None, help="Answer upstream requests from this cassette, offline."),
    files_downloadable: Optional[bool] = typer.Option(
        None,
        "--files-downloadable",
        help="Let uploaded files be downloaded (the API allows it only for files tools made).",
    ),
) -> None:
    """Serve the Claude API (built-in deterministic model by default)."""
    import uvicorn

    from .settings import Settings

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "api_keys": api_key or None,
            "token_delay": token_delay,
            "workers": workers,
            "log_level": log_level,
            "script": script,
            "admin_token": admin_token,
            "request_log_size": request_log_size,
            "data_dir": data_dir,
            "database_url": database_url,
            "public_url": public_url,
            "batch_concurrency": batch_concurrency,
            "batch_poll_interval": batch_poll_interval,
            "batch_lease": batch_lease,
            "files_downloadable": files_downloadable,
            "config": config,
            "openai_upstream": openai_upstream,
            "openai_api_key": openai_api_key,
            "anthropic_upstream": anthropic_upstream,
            "anthropic_api_key": anthropic_api_key,
            "upstream_timeout": upstream_timeout,
            "record": record,
            "replay": replay,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    if settings.script:
        # A bad rules file is reported here, plainly, rather than by a worker's traceback.
        from .script import ScriptError, load

        try:
            load(settings.script)
        except (ScriptError, OSError) as exc:
            typer.echo(f"dateline: {settings.script}: {exc}", err=True)
            raise typer.Exit(2) from None
    from .config import ConfigError

    try:
        settings.upstream_config()
    except ConfigError as exc:
        typer.echo(f"dateline: {exc}", err=True)
        raise typer.Exit(2) from None
    if settings.replay is not None and not settings.replay.is_file():
        typer.echo(f"dateline: --replay: no cassette at {settings.replay}", err=True)
        raise typer.Exit(2)
    # Migrate once here, before any worker starts, and report an unreachable database plainly.
    import asyncio

    from .store import Store

    try:
        asyncio.run(_migrate(Store(settings.resolved_database_url())))
    except Exception as exc:
        typer.echo(f"dateline: cannot open the database: {exc}", err=True)
        raise typer.Exit(2) from None
    # Workers re-create the app from the environment, so pass settings that way.
    import os

    for key, value in settings.model_dump().items():
        if value is None:
            continue
        os.environ[f"DATELINE_{key.upper()}"] = str(value) if isinstance(value, (str, Path)) else _env(value)
    uvicorn.run(
        "dateline.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
    )


def _env(value: object) -> str:
    import json

    return json.dumps(value)


async def _migrate(store: Store) -> None:
    try:
        await store.open()
    finally:
        await store.close()


@app.command()
def versions() -> None:
    """Print the API version history, from the declared version changes."""
    from .versions import VERSIONS

    history = VERSIONS.history()
    console = Console()
    if not console.is_terminal:
        # Piped or captured: one change per line, never wrapped to a guessed width.
        for date, lines in history:
            print(date)
            for line in lines:
                print(f"  - {line}")
        return
    table = Table("version", "what it changed, relative to the one before", show_lines=True)
    for date, lines in history:
        # Text, not markup: a description may contain brackets such as `[DONE]`.
        table.add_row(date, Text("\n".join(f"- {line}" for line in lines)))
    console.print(table)


@app.command()
def openapi(
    version: Optional[str] = typer.Option(None, help="The API version to document (default: the newest)."),
) -> None:
    """Print the OpenAPI 3.1 document of the Claude API as served under one API version."""
    import json

    from .app import create_app
    from .openapi import UnknownVersion, document
    from .settings import Settings

    try:
        print(json.dumps(document(create_app(Settings()), version), indent=2))
    except UnknownVersion as exc:
        typer.echo(f"dateline: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app()
