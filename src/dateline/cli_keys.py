"""``dateline keys``: API keys in the database a server uses (the same
``--database-url`` / ``--data-dir`` as ``serve``, or their ``DATELINE_*``
variables). A running server sees a change within a second.

    SECRET=$(dateline keys create ci --rpm 50 --default-version 2023-06-01 -q)

``create`` prints the secret once; it is kept only as a keyed hash, and no
other command can show it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from .keys import Key, KeyRing, RateLimits, UnifiedLimits

keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, show, update and revoke them.")

T = TypeVar("T")

#: What ``update --clear`` can put back to its default, and the setting each names.
CLEARABLE = {
    "workspace": "workspace_id",
    "rpm": "rate_limits.requests_per_minute",
    "itpm": "rate_limits.input_tokens_per_minute",
    "otpm": "rate_limits.output_tokens_per_minute",
    "model-limits": "model_rate_limits",
    "unified": "unified_limits",
    "allowed-models": "allowed_models",
    "spend-limit": "spend_limit",
    "default-version": "default_version",
    "accepted-versions": "accepted_versions",
}
_RATES = {"rpm": "requests_per_minute", "itpm": "input_tokens_per_minute", "otpm": "output_tokens_per_minute"}
_WINDOWS = {"unified_5h": "five_hour", "unified_7d": "seven_day"}

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="postgresql://… (default: the SQLite database in --data-dir)."),
]
DataDir = Annotated[str | None, typer.Option("--data-dir", help="Where `serve` keeps its SQLite database.")]
Workspace = Annotated[str | None, typer.Option("--workspace", help="The workspace the key belongs to.")]
Rpm = Annotated[int | None, typer.Option("--rpm", help="Requests per minute.")]
Itpm = Annotated[int | None, typer.Option("--itpm", help="Input tokens per minute.")]
Otpm = Annotated[int | None, typer.Option("--otpm", help="Output tokens per minute.")]
ModelLimit = Annotated[
    list[str],
    typer.Option(
        "--model-limit",
        help="A model class with limits of its own: GLOB:rpm=N,itpm=N,otpm=N (repeatable; a rate left out is the key's).",
    ),
]
Unified5h = Annotated[
    int | None, typer.Option("--unified-5h", help="Tokens the key may use in a 5-hour window (unified headers).")
]
Unified7d = Annotated[
    int | None, typer.Option("--unified-7d", help="Tokens the key may use in a 7-day window (unified headers).")
]
AllowModel = Annotated[
    list[str], typer.Option("--allow-model", help="Only models matching this glob (repeatable; default: all).")
]
SpendLimit = Annotated[float | None, typer.Option("--spend-limit", help="US dollars the key may spend.")]
DefaultVersion = Annotated[
    str | None, typer.Option("--default-version", help="The anthropic-version of requests without the header.")
]
AcceptVersion = Annotated[
    list[str], typer.Option("--accept-version", help="Accept only this anthropic-version (repeatable; default: all).")
]


class Failed(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _die(message: str, code: int) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(database_url: str | None, data_dir: str | None, work: Callable[[KeyRing], Awaitable[T]]) -> T:
    """``work`` on the keys of the database the options (or DATELINE_*) name."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.exc import SQLAlchemyError

    from . import errors
    from .keys import KeyRing
    from .settings import Settings
    from .store import Store

    overrides = {k: v for k, v in {"database_url": database_url, "data_dir": data_dir}.items() if v is not None}
    try:
        url = Settings(**overrides).resolved_database_url()
    except (ValidationError, SettingsError, ValueError) as exc:
        _die(str(exc), 2)

    async def run() -> T:
        store = Store(url)
        try:
            await store.open()
            ring = KeyRing(store)
            await ring.open()
            return await work(ring)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except errors.APIError as exc:
        _die(exc.message, 2)
    except Failed as exc:
        _die(str(exc), exc.code)
    except (OSError, ValueError, SQLAlchemyError) as exc:
        _die(f"cannot open the database: {exc}", 2)


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """The setting options given to a command (its parameters, by name), as the
    admin API's body (a merge patch for ``update``)."""
    body: dict[str, Any] = {}
    if options["workspace"] is not None:
        body["workspace_id"] = options["workspace"]
    for section, fields in (("rate_limits", _RATES), ("unified_limits", _WINDOWS)):
        given = {field: options[option] for option, field in fields.items() if options[option] is not None}
        if given:
            body[section] = given
    if options["model_limit"]:
        body["model_rate_limits"] = dict(_model_limit(spec) for spec in options["model_limit"])
    for option, field in (("allow_model", "allowed_models"), ("accept_version", "accepted_versions")):
        if options[option]:
            body[field] = options[option]
    for field in ("spend_limit", "default_version"):
        if options[field] is not None:
            body[field] = options[field]
    return body


def _model_limit(spec: str) -> tuple[str, dict[str, int]]:
    glob, sep, rest = spec.rpartition(":")
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        name, eq, value = (p.strip() for p in part.partition("="))
        if not eq or name not in _RATES or not (value.isascii() and value.isdigit()):
            break
        limits[_RATES[name]] = int(value)
    else:
        if sep and glob and limits:
            return glob, limits
    _die(f"--model-limit {spec!r}: expected GLOB:rpm=N,itpm=N,otpm=N", 2)


# --------------------------------------------------------------------------- commands


@keys_app.command()
def create(
    name: Annotated[str, typer.Argument(help="A name for the key (shown in lists).")],
    workspace: Workspace = None,
    rpm: Rpm = None,
    itpm: Itpm = None,
    otpm: Otpm = None,
    unified_5h: Unified5h = None,
    unified_7d: Unified7d = None,
    model_limit: ModelLimit = [],  # noqa: B006 - typer's way to a repeatable option
    allow_model: AllowModel = [],  # noqa: B006
    spend_limit: SpendLimit = None,
    default_version: DefaultVersion = None,
    accept_version: AcceptVersion = [],  # noqa: B006
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the secret.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print its secret: the only time it is shown."""
    body = {"name": name, **_settings(locals())}
    key, secret = _run(database_url, data_dir, lambda ring: ring.create(body))
    if not quiet:
        console = Console(stderr=True)
        _details(console, key)
        console.print("The secret below is shown this once; Dateline keeps only its hash.", highlight=False)
    print(secret)  # alone on stdout, never wrapped


@keys_app.command("list")
def list_keys(
    status: Annotated[str | None, typer.Option("--status", help="Only active or only revoked keys.")] = None,
    workspace: Workspace = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List the keys, newest first (never their secrets)."""
    if status not in (None, "active", "revoked"):
        _die("--status: give active or revoked", 2)
    where: dict[str, Any] = {}
    if status is not None:
        where["revoked"] = status == "revoked"
    if workspace is not None:
        where["workspace_id"] = workspace

    async def every(ring: KeyRing) -> list[Key]:
        found: list[Key] = []
        after = None
        while True:
            page, more = await ring.page(after_id=after, before_id=None, limit=1000, **where)
            found += page
            if not more:
                return found
            after = page[-1].id

    keys = _run(database_url, data_dir, every)
    header = ("id", "name", "key", "workspace", "status", "created", "last used", "limits", "models", "version")
    rows = []
    for key in keys:
        settings = key.settings
        classes = f" +{len(settings.model_rate_limits)} classes" if settings.model_rate_limits else ""
        rows.append(
            (
                key.id,
                key.name,
                key.partial_key_hint,
                key.workspace_id or "",
                key.describe()["status"],
                _when(key.created_at),
                _when(key.last_used_at),
                _limits(settings.rate_limits) + classes,
                ", ".join(settings.allowed_models) if settings.allowed_models is not None else "all",
                settings.default_version or "",
            )
        )
    _table(Console(), header, rows)


@keys_app.command()
def show(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikey_…).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Show one key and all its settings (never its secret)."""
    _details(Console(), _run(database_url, data_dir, lambda ring: _found(ring.get(key_id), key_id)))


@keys_app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikey_…).")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Revoke a key for good: running servers refuse it within a second."""
    key = _run(database_url, data_dir, lambda ring: _found(ring.revoke(key_id), key_id))
    Console().print(f"{key.id} ({escape(key.name)}) revoked", highlight=False)


@keys_app.command()
def update(
    key_id: Annotated[str, typer.Argument(help="The key's id (apikey_…).")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    workspace: Workspace = None,
    rpm: Rpm = None,
    itpm: Itpm = None,
    otpm: Otpm = None,
    unified_5h: Unified5h = None,
    unified_7d: Unified7d = None,
    model_limit: ModelLimit = [],  # noqa: B006
    allow_model: AllowModel = [],  # noqa: B006
    spend_limit: SpendLimit = None,
    default_version: DefaultVersion = None,
    accept_version: AcceptVersion = [],  # noqa: B006
    clear: Annotated[
        list[str], typer.Option("--clear", help=f"Put a setting back to its default: {', '.join(CLEARABLE)}.")
    ] = [],  # noqa: B006
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Change a key's name, workspace or settings; what is not named stays as it is."""
    given = _settings(locals())
    patch: dict[str, Any] = {} if name is None else {"name": name}
    for setting in clear:
        if setting not in CLEARABLE:
            _die(f"--clear {setting}: give one of {', '.join(CLEARABLE)}", 2)
        *parents, leaf = CLEARABLE[setting].split(".")
        holder = patch
        for parent in parents:
            holder = holder.setdefault(parent, {})
        holder[leaf] = None
    for field, value in given.items():
        if isinstance(value, dict) and isinstance(patch.get(field), dict):
            patch[field].update(value)
        else:
            patch[field] = value
    if not patch:
        _die("nothing to change: give a setting (see --help)", 2)
    _details(Console(), _run(database_url, data_dir, lambda ring: _found(ring.update(key_id, patch), key_id)))


# --------------------------------------------------------------------------- display


async def _found(lookup: Awaitable[Key | None], key_id: str) -> Key:
    key = await lookup
    if key is None:
        raise Failed(f"no API key with id {key_id}", 1)
    return key


def _details(console: Console, key: Key) -> None:
    settings = key.settings
    rows = [
        ("id", key.id),
        ("name", key.name),
        ("key", key.partial_key_hint),
        ("workspace", key.workspace_id or "—"),
        ("status", key.describe()["status"]),
        ("created", _when(key.created_at)),
        ("last used", _when(key.last_used_at) or "never"),
        ("revoked", _when(key.revoked_at) or "—"),
        ("rate limits", _limits(settings.rate_limits)),
        *((f"  {glob}", _limits(limits)) for glob, limits in settings.model_rate_limits.items()),
        ("unified windows", _windows(settings.unified_limits)),
        ("models", ", ".join(settings.allowed_models) if settings.allowed_models is not None else "all"),
        ("spend limit", f"${settings.spend_limit:,.2f}" if settings.spend_limit is not None else "none"),
        ("default version", settings.default_version or "none (the header is required)"),
        ("accepted versions", ", ".join(settings.accepted_versions) if settings.accepted_versions else "all"),
    ]
    _table(console, None, rows)


def _table(console: Console, header: tuple[str, ...] | None, rows: list[tuple[str, ...]]) -> None:
    """A table for a person at a terminal; piped or captured, one tab-separated
    line per row, never cut to a guessed width."""
    if not console.is_terminal:
        for row in [header, *rows] if header else rows:
            console.file.write("\t".join(row) + "\n")
        return
    if header is None:  # label and value
        table = Table(show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column()
    else:
        table = Table(*header)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: a name or glob may hold brackets
    console.print(table)


def _limits(limits: RateLimits) -> str:
    parts = [f"{short} {value:,}" for short, field in _RATES.items() if (value := getattr(limits, field)) is not None]
    return " · ".join(parts) or "none"


def _windows(limits: UnifiedLimits | None) -> str:
    if limits is None:
        return "none"
    parts = [f"{label} {value:,}" for label, value in (("5h", limits.five_hour), ("7d", limits.seven_day)) if value]
    return " · ".join(parts) or "none"


def _when(seconds: float | None) -> str:
    from .keys import rfc3339

    stamp = rfc3339(seconds)
    return stamp[:19].replace("T", " ") + "Z" if stamp else ""
