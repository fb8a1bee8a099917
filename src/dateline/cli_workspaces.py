"""``dateline workspaces``: the rate limits a workspace's keys share, in the database a
server uses (the same ``--database-url`` / ``--data-dir`` as ``serve``, or their
``DATELINE_*`` variables). A running server applies a change within a second.

    dateline workspaces set wrkspc_backend --requests-per-minute 500 --output-tokens-per-minute 80000

A workspace is the ``workspace_id`` its keys carry (``dateline keys create --workspace``);
its limits hold beside each key's own, and the tighter one refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from .cli_keys import DatabaseUrl, DataDir, Failed, _die, _limits, _run, _table, _when

if TYPE_CHECKING:
    from .keys import KeyRing, WorkspaceLimits

workspaces_app = typer.Typer(
    no_args_is_help=True, help="Workspaces' rate limits, shared by their keys: list, show, set and remove them."
)

WorkspaceId = Annotated[str, typer.Argument(help="The workspace's id, as its keys carry it (wrkspc_…).")]


@workspaces_app.command("list")
def list_workspaces(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """List the workspaces with rate limits, newest first."""

    async def every(ring: KeyRing) -> list[WorkspaceLimits]:
        found: list[WorkspaceLimits] = []
        after = None
        while True:
            page, more = await ring.workspaces(after_id=after, before_id=None, limit=1000)
            found += page
            if not more:
                return found
            after = page[-1].id

    spaces = _run(database_url, data_dir, every)
    rows = [(s.id, _limits(s.rate_limits), _when(s.created_at), _when(s.updated_at)) for s in spaces]
    _table(Console(), ("id", "limits", "created", "updated"), rows)


@workspaces_app.command()
def show(workspace_id: WorkspaceId, database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Show a workspace's rate limits and how many live keys share them."""

    async def look(ring: KeyRing) -> tuple[WorkspaceLimits, int]:
        space = await _found(ring.get_workspace(workspace_id), workspace_id)
        keys, after = 0, None
        while True:
            page, more = await ring.page(after_id=after, before_id=None, limit=1000, workspace_id=workspace_id)
            keys += sum(key.live for key in page)
            if not more:
                return space, keys
            after = page[-1].id

    space, keys = _run(database_url, data_dir, look)
    _details(Console(), space, keys)


@workspaces_app.command("set")
def set_limits(
    workspace_id: WorkspaceId,
    requests_per_minute: Annotated[
        int | None, typer.Option("--requests-per-minute", "--rpm", help="Requests per minute.")
    ] = None,
    input_tokens_per_minute: Annotated[
        int | None, typer.Option("--input-tokens-per-minute", "--itpm", help="Input tokens per minute.")
    ] = None,
    output_tokens_per_minute: Annotated[
        int | None, typer.Option("--output-tokens-per-minute", "--otpm", help="Output tokens per minute.")
    ] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Set a workspace's rate limits, all of them: a rate not given is not limited."""
    given = {
        "requests_per_minute": requests_per_minute,
        "input_tokens_per_minute": input_tokens_per_minute,
        "output_tokens_per_minute": output_tokens_per_minute,
    }
    limits = {name: value for name, value in given.items() if value is not None}
    if not limits:
        _die("nothing to set: give --requests-per-minute, --input-tokens-per-minute or --output-tokens-per-minute", 2)
    body = {"rate_limits": limits}
    _details(Console(), _run(database_url, data_dir, lambda ring: ring.put_workspace(workspace_id, body)))


@workspaces_app.command()
def remove(workspace_id: WorkspaceId, database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Remove a workspace's rate limits (its keys keep their own): running servers lift them within a second."""
    _run(database_url, data_dir, lambda ring: _found(ring.remove_workspace(workspace_id), workspace_id))
    Console().print(f"{escape(workspace_id)}: rate limits removed", highlight=False)


async def _found(lookup: Awaitable[WorkspaceLimits | None], workspace_id: str) -> WorkspaceLimits:
    space = await lookup
    if space is None:
        raise Failed(f"no workspace with id {workspace_id} has rate limits", 1)
    return space


def _details(console: Console, space: WorkspaceLimits, keys: int | None = None) -> None:
    rows = [
        ("id", space.id),
        ("rate limits", _limits(space.rate_limits)),
        ("created", _when(space.created_at)),
        ("updated", _when(space.updated_at)),
    ]
    if keys is not None:
        rows.append(("live keys", str(keys)))
    _table(console, None, rows)
