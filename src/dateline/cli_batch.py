"""``dateline batch``: Message Batches from the shell, against any server that
speaks the Claude API (Dateline or the real one).

    ID=$(dateline batch submit -q requests.jsonl)
    dateline batch results --wait "$ID" > results.jsonl

Plain HTTP (httpx), not the SDK: the SDK is not a dependency. Progress and
messages go to stderr, so stdout carries only data (the id, the JSONL).
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NoReturn

import httpx
import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

batch_app = typer.Typer(no_args_is_help=True, help="Message Batches: submit a JSONL file of requests, fetch results.")

API_VERSION = "2023-06-01"
CHUNK = 1 << 16
COUNTS = ("succeeded", "errored", "canceled", "expired")

BaseUrl = Annotated[str, typer.Option("--base-url", envvar="ANTHROPIC_BASE_URL", help="The API's address.")]
ApiKey = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="ANTHROPIC_API_KEY",
        show_default=False,
        help="Sent as x-api-key (default: dateline; Dateline takes any key unless serving with --api-key).",
    ),
]
PollInterval = Annotated[float, typer.Option("--poll-interval", min=0.01, help="Seconds between status checks.")]


class Failed(Exception):
    """Reported on stderr as the command's end: exit 1 (the API said no), 2 (bad input)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def _client(base_url: str, api_key: str) -> Iterator[httpx.Client]:
    """A client for the API; failures end the command, after any progress display has closed."""
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
    # Creating a big batch or reading its results can take a while on the server's side.
    timeout = httpx.Timeout(30.0, read=600.0)
    try:
        with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
            yield client
    except httpx.TransportError as exc:
        _die(f"cannot reach {base_url}: {exc or type(exc).__name__}", 1)
    except Failed as exc:
        _die(str(exc), exc.code)


def _die(message: str, code: int) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    response.read()
    try:
        error = response.json()["error"]
        message = f"{error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:500]}"
    raise Failed(message)


def _get_batch(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    return _check(client.get(f"/v1/messages/batches/{batch_id}")).json()


def _progress(*columns: Any, quiet: bool) -> Progress:
    """A progress display on stderr, only for a person watching (not in logs or under -q)."""
    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal)


def _wait(client: httpx.Client, batch: dict[str, Any], interval: float, quiet: bool) -> dict[str, Any]:
    """Poll until the batch has ended. The API tallies requests only at the end,
    so there is no count to show meanwhile: status and elapsed time."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with _progress(*columns, quiet=quiet) as progress:
        task = progress.add_task(f"{batch['id']} {batch['processing_status']}")
        try:
            while batch["processing_status"] != "ended":
                progress.update(task, description=f"{batch['id']} {batch['processing_status']}")
                time.sleep(interval)
                batch = _get_batch(client, batch["id"])
        except KeyboardInterrupt:
            raise Failed(f"stopped waiting; {batch['id']} goes on: `dateline batch results --wait {batch['id']}`", 130)
    return batch


def _counts_table(batch: dict[str, Any]) -> Table:
    table = Table()
    table.add_column("result")
    table.add_column("requests", justify="right")
    for name in COUNTS:
        table.add_row(name, f"{batch['request_counts'][name]:,}")
    return table


# --------------------------------------------------------------------------- submit


def _read_requests(path: Path, progress: Progress) -> tuple[list[bytes], list[int]]:
    """The file's requests (each line's bytes, as written) and their line numbers.
    Any malformed line stops everything: exit 2, nothing sent."""
    lines: list[bytes] = []
    numbers: list[int] = []
    seen: dict[str, int] = {}
    task = progress.add_task("reading", total=path.stat().st_size)
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            progress.advance(task, len(raw))
            line = raw.strip()
            if not line:
                continue
            try:
                request = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise Failed(f"{path}, line {number}, column {exc.colno}: not valid JSON ({exc.msg})", 2) from None
            if not (
                isinstance(request, dict)
                and isinstance(request.get("custom_id"), str)
                and isinstance(request.get("params"), dict)
            ):
                raise Failed(f'{path}, line {number}: expected {{"custom_id": "...", "params": {{...}}}}', 2)
            custom_id = request["custom_id"]
            if custom_id in seen:
                raise Failed(
                    f"{path}, line {number}: custom_id {custom_id!r} is already used on line {seen[custom_id]}", 2
                )
            seen[custom_id] = number
            lines.append(line)
            numbers.append(number)
    if not lines:
        raise Failed(f"{path}: no requests", 2)
    return lines, numbers


def _upload(body: bytes, progress: Progress) -> Iterator[bytes]:
    task = progress.add_task("sending", total=len(body))
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]
        progress.advance(task, min(CHUNK, len(body) - start))


@batch_app.command()
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL: one {custom_id, params} per line.")],
    wait: Annotated[bool, typer.Option("--wait", help="Then wait until the batch has ended.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the batch id; no progress.")] = False,
    base_url: BaseUrl = "http://127.0.0.1:8000",
    api_key: ApiKey = "dateline",
    poll_interval: PollInterval = 1.0,
) -> None:
    """Create a batch from FILE, one request per line; print its id."""
    columns = (TextColumn("{task.description:<8}"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
    with _client(base_url, api_key) as client:
        with _progress(*columns, quiet=quiet) as progress:
            lines, numbers = _read_requests(file, progress)
            # The lines go out as written (each one parsed above): no need to encode them again.
            body = b'{"requests":[' + b",".join(lines) + b"]}"
            # With Content-Length set, httpx streams the chunks without chunked encoding.
            headers = {"content-type": "application/json", "content-length": str(len(body))}
            response = client.post("/v1/messages/batches", content=_upload(body, progress), headers=headers)
            try:
                batch = _check(response).json()
            except Failed as exc:
                raise Failed(_name_line(str(exc), file, numbers)) from None
        if quiet:
            typer.echo(batch["id"])
        else:
            Console().print(f"{batch['id']}  ({len(lines):,} requests from {escape(str(file))})", highlight=False)
        if wait:
            batch = _wait(client, batch, poll_interval, quiet)
            if not quiet:
                Console().print(f"{batch['id']} {batch['processing_status']}", _counts_table(batch), highlight=False)


def _name_line(message: str, file: Path, numbers: list[int]) -> str:
    """The API names a bad request by its index (``requests.4.custom_id: …``): name the line too."""
    match = re.search(r"\brequests\.(\d+)\.", message)
    if match and int(match.group(1)) < len(numbers):
        return f"{message} ({file}, line {numbers[int(match.group(1))]})"
    return message


# --------------------------------------------------------------------------- results


@batch_app.command()
def results(
    batch_id: Annotated[str, typer.Argument(help="The batch's id (msgbatch_…).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSONL here, not to stdout.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the batch to end first.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")] = False,
    base_url: BaseUrl = "http://127.0.0.1:8000",
    api_key: ApiKey = "dateline",
    poll_interval: PollInterval = 1.0,
) -> None:
    """Download a batch's results (JSONL, one line per request) to stdout or --output."""
    with _client(base_url, api_key) as client:
        batch = _get_batch(client, batch_id)
        if batch["processing_status"] != "ended":
            if not wait:
                raise Failed(
                    f"{batch_id} is still {batch['processing_status']}; its results come once it has ended (use --wait)"
                )
            batch = _wait(client, batch, poll_interval, quiet)
        total = sum(batch["request_counts"].values())
        if output is None:
            tally = _download(client, batch["results_url"], sys.stdout.buffer, total, quiet)
        else:
            # Written aside and moved into place, so a failed download leaves no half file.
            partial = output.with_name(output.name + ".part")
            try:
                with partial.open("wb") as sink:
                    tally = _download(client, batch["results_url"], sink, total, quiet)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(output)
    if not quiet:
        lines = sum(tally.values())
        summary = ", ".join(f"{tally[name]:,} {name}" for name in COUNTS)
        Console(stderr=True).print(f"{lines:,} results: {summary}", highlight=False)


def _download(client: httpx.Client, url: str, sink: BinaryIO, total: int, quiet: bool) -> Counter[str]:
    """Copy the results byte for byte to ``sink``, tallying the result types on the way."""
    tally: Counter[str] = Counter()
    columns = (TextColumn("results"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _progress(*columns, quiet=quiet) as progress:
        task = progress.add_task("", total=total)
        # results_url is absolute, and may name another host: follow it as given.
        with client.stream("GET", url, headers={"accept": "application/binary"}) as response:
            _check(response)
            rest = b""
            for chunk in response.iter_bytes(CHUNK):
                sink.write(chunk)
                *complete, rest = (rest + chunk).split(b"\n")
                for line in complete:
                    if line.strip():
                        tally[orjson.loads(line)["result"]["type"]] += 1
                progress.advance(task, len(complete))
            if rest.strip():
                tally[orjson.loads(rest)["result"]["type"]] += 1
    sink.flush()
    return tally
