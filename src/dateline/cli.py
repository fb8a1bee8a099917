"""The ``dateline`` command: ``serve`` and ``versions``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .cli_batch import batch_app
from .cli_keys import keys_app
from .cli_upgrade import check_upgrade
from .cli_usage import usage
from .cli_workspaces import workspaces_app

if TYPE_CHECKING:
    from .settings import Settings
    from .store import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="A faithful, version-aware Claude API server.",
    # A traceback's local variables could hold a secret setting.
    pretty_exceptions_show_locals=False,
)
app.add_typer(batch_app, name="batch")
app.add_typer(keys_app, name="keys")
app.add_typer(workspaces_app, name="workspaces")
app.command("check-upgrade")(check_upgrade)
app.command("usage")(usage)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="Interface to listen on (default: 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Port to listen on (default: 8000)."),
    api_key: list[str] = typer.Option([], "--api-key", help="Accept only this API key (repeatable)."),
    api_key_file: Optional[str] = typer.Option(None, help="Accept only the API keys in this file, one a line."),
    token_delay: Optional[float] = typer.Option(None, help="Seconds the built-in model waits per streamed token."),
    workers: Optional[int] = typer.Option(None, help="Worker processes."),
    log_level: Optional[str] = typer.Option(None, help="debug, info, warning or error."),
    log_format: Optional[str] = typer.Option(
        None, help="json or text: one line per request, uvicorn's lines alike (default: text on a terminal, else json)."
    ),
    metrics: Optional[bool] = typer.Option(
        None, "--metrics/--no-metrics", help="Serve Prometheus metrics at /metrics (default: on)."
    ),
    script: Optional[str] = typer.Option(None, help="Rules file (YAML or JSON) of scripted replies and faults."),
    admin_token: Optional[str] = typer.Option(
        None, help="Token guarding the /_dateline/ admin API (required on a --host beyond loopback)."
    ),
    admin_token_file: Optional[str] = typer.Option(None, help="Read --admin-token from this file."),
    signing_key_file: Optional[str] = typer.Option(
        None, help="Key for thinking signatures (default: a random one kept in the database)."
    ),
    request_log_size: Optional[int] = typer.Option(None, help="Requests kept for /_dateline/requests (0: off)."),
    request_log_bytes: Optional[int] = typer.Option(
        None, help="Bytes of headers and bodies the request log keeps (default: 32 MiB)."
    ),
    fault_header: Optional[bool] = typer.Option(
        None, "--fault-header/--no-fault-header", help="Let the dateline-fault request header ask for faults."
    ),
    data_dir: Optional[str] = typer.Option(
        None, help="Where the SQLite database and uploaded files live (default: ~/.local/share/dateline)."
    ),
    database_url: Optional[str] = typer.Option(None, help="postgresql://… to keep state in PostgreSQL instead."),
    redis_url: Optional[str] = typer.Option(
        None, help="redis://… to share rate limits and usage between replicas (a secret: prefer the file)."
    ),
    redis_url_file: Optional[str] = typer.Option(None, help="Read --redis-url from this file."),
    public_url: Optional[str] = typer.Option(None, help="This server's URL as clients see it (for results_url)."),
    forwarded_allow_ips: Optional[str] = typer.Option(
        None, help="Proxies whose X-Forwarded-Host/-Proto are believed, comma-separated (default: 127.0.0.1)."
    ),
    batch_concurrency: Optional[int] = typer.Option(
        None, help="Batch requests each process works on at once (default: 32)."
    ),
    batch_poll_interval: Optional[float] = typer.Option(
        None, help="Seconds between looks for batch work (default: 1.0)."
    ),
    batch_lease: Optional[float] = typer.Option(
        None, help="Seconds a batch request is held before another may take it (default: 60)."
    ),
    config: Optional[str] = typer.Option(None, help="TOML file mapping models to upstream servers."),
    openai_upstream: Optional[str] = typer.Option(
        None, help="Serve every model from this OpenAI-compatible server (URL ending in /v1)."
    ),
    openai_api_key: Optional[str] = typer.Option(None, help="Key for --openai-upstream."),
    openai_api_key_file: Optional[str] = typer.Option(None, help="Read --openai-api-key from this file."),
    anthropic_upstream: Optional[str] = typer.Option(
        None, help="Serve every model from this Anthropic-compatible server (its root URL)."
    ),
    anthropic_api_key: Optional[str] = typer.Option(
        None, help="Key for --anthropic-upstream (default: pass each client's key on)."
    ),
    anthropic_api_key_file: Optional[str] = typer.Option(None, help="Read --anthropic-api-key from this file."),
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
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from .settings import Settings

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "token_delay": token_delay,
            "workers": workers,
            "log_level": log_level,
            "log_format": log_format,
            "metrics": metrics,
            "script": script,
            "request_log_size": request_log_size,
            "request_log_bytes": request_log_bytes,
            "fault_header": fault_header,
            "data_dir": data_dir,
            "database_url": database_url,
            "public_url": public_url,
            "forwarded_allow_ips": forwarded_allow_ips,
            "batch_concurrency": batch_concurrency,
            "batch_poll_interval": batch_poll_interval,
            "batch_lease": batch_lease,
            "files_downloadable": files_downloadable,
            "config": config,
            "openai_upstream": openai_upstream,
            "anthropic_upstream": anthropic_upstream,
            "upstream_timeout": upstream_timeout,
            "record": record,
            "replay": replay,
        }.items()
        if v is not None
    }
    secrets = {
        "api_keys": ("--api-key", api_key or None, api_key_file),
        "admin_token": ("--admin-token", admin_token, admin_token_file),
        "signing_key": ("--signing-key", None, signing_key_file),
        "openai_api_key": ("--openai-api-key", openai_api_key, openai_api_key_file),
        "anthropic_api_key": ("--anthropic-api-key", anthropic_api_key, anthropic_api_key_file),
        "redis_url": ("--redis-url", redis_url, redis_url_file),
    }
    for name, (flag, value, path) in secrets.items():
        if value is not None and path is not None:
            typer.echo(f"dateline: give {flag} or {flag}-file, not both", err=True)
            raise typer.Exit(2)
        if value is not None or path is not None:
            # Either flag wins over both of the environment's forms.
            overrides.update({name: value if value is not None or name != "api_keys" else [], f"{name}_file": path})
    try:
        settings = Settings(**overrides)
    except (ValidationError, SettingsError) as exc:
        typer.echo(f"dateline: {_settings_error(exc)}", err=True)
        raise typer.Exit(2) from None
    if not settings.admin_token and not settings.on_loopback:
        typer.echo(
            f"dateline: --host {settings.host} would serve the admin API (/_dateline/: rules, the request log)"
            " to the network unguarded: give --admin-token-file (or --admin-token, DATELINE_ADMIN_TOKEN)",
            err=True,
        )
        raise typer.Exit(2)
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
    _forget_secret_variables()
    _run(settings)


def _settings_error(exc: Exception) -> str:
    """A setting refused, named without its value (which may be a secret)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    return "; ".join(
        ".".join(map(str, error["loc"])) + ": " * bool(error["loc"]) + error["msg"].removeprefix("Value error, ")
        for error in exc.errors(include_input=False, include_url=False)
    )


def _forget_secret_variables() -> None:
    """Secrets read from ``DATELINE_*`` leave this process's environment, so no
    worker or other child inherits them (the settings carry them instead)."""
    import os

    from .settings import SECRETS

    names = {f"DATELINE_{name.upper()}" for name in SECRETS}
    for variable in [v for v in os.environ if v.upper() in names]:
        del os.environ[variable]


class _App:
    """The app factory uvicorn calls in each worker, with the settings inside it.

    uvicorn hands its configuration (this included) to a worker it spawns
    through a pipe, so the settings need no environment variable or command
    line, where ``ps`` and ``/proc`` would show the secrets among them.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self) -> Any:
        from .app import create_app

        return create_app(self.settings)


def _run(settings: Settings) -> None:
    """What ``uvicorn.run`` does, with an app object even for several workers
    (``uvicorn.run`` takes only an import string then, and its workers would
    have to find the settings in the environment)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .http import server_options
    from .logs import config as log_config
    from .logs import default_format

    config = uvicorn.Config(
        _App(settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config(settings.log_format or default_format(), settings.log_level),
        access_log=False,  # the request's own line (dateline.request) says more
        # Forwarded headers count only from settings.forwarded_allow_ips, and only where used (results_url).
        proxy_headers=False,
        **server_options(),  # request heads within their limits, refused as they arrive
    )
    if config.workers > 1:
        with _metrics_dir():
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    _empty_metrics_dir()  # one process given PROMETHEUS_MULTIPROC_DIR still writes there
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn's start-up failure


@contextlib.contextmanager
def _metrics_dir() -> Iterator[None]:
    """Where the workers write their metrics for any of them to serve summed
    (prometheus-client's multiprocess mode): ``PROMETHEUS_MULTIPROC_DIR`` if set,
    emptied of an earlier run's values, else a temp dir for this run. Set before the
    workers start, which read it when they first import the client."""
    import os
    import shutil
    import tempfile

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _empty_metrics_dir()
        yield
        return
    made = tempfile.mkdtemp(prefix="dateline-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(made, ignore_errors=True)


def _empty_metrics_dir() -> None:
    """An earlier run's values out of ``PROMETHEUS_MULTIPROC_DIR``, when set: they would be summed in."""
    import os
    from pathlib import Path

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()


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
