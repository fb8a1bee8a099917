"""Would recorded traffic survive an upgrade to another API version?

Each recorded request (from the request log, a cassette, or a file of request
bodies) is validated against the target version's request model, exactly as
the edge would validate it, and every refusal is kept with the API's own
message. A request already refused under its own version is not an upgrade
problem: it is counted as skipped. A batch creation is checked request by
request, as its requests are validated when they are processed.

Pure functions over parsed data; reading files and servers is the CLI's part
(``cli_upgrade``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydantic

from . import errors
from .schemas import CompletionCreateParams, MessageCountTokensParams, MessageCreateParams, validate
from .versions import VERSIONS

#: The endpoints whose bodies are validated, by the end of their path: a
#: cassette's paths may carry the upstream's own prefix.
MODELS: dict[str, type[pydantic.BaseModel]] = {
    "/v1/messages": MessageCreateParams,
    "/v1/messages/count_tokens": MessageCountTokensParams,
    "/v1/complete": CompletionCreateParams,
}
BATCHES = "/v1/messages/batches"


class UnusableInput(ValueError):
    """The input cannot be read as recorded requests (the message says where and why)."""


@dataclass(frozen=True)
class Recorded:
    """One request as it was sent: where the report finds it, under which version, and what it got."""

    ref: str  #: a request id, or a place in a file (``line 3``)
    path: str
    body: Any
    version: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class Refusal:
    """A request the target version would refuse, with the API's message."""

    ref: str
    path: str
    version: str
    message: str

    @property
    def cause(self) -> str:
        return cause_of(self.message)


@dataclass(frozen=True)
class Cause:
    """The refusals sharing one message, indices aside."""

    cause: str
    refusals: tuple[Refusal, ...]


@dataclass
class Report:
    target: str
    checked: int = 0  #: requests validated under the target version
    skipped: int = 0  #: already refused under their own version
    other: int = 0  #: requests with no body to check (other endpoints and methods)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def breaks(self) -> bool:
        return bool(self.refusals)

    def causes(self) -> list[Cause]:
        """The refusals grouped by cause, the commonest first."""
        groups: dict[str, list[Refusal]] = {}
        for refusal in self.refusals:
            groups.setdefault(refusal.cause, []).append(refusal)
        ordered = sorted(groups.items(), key=lambda item: -len(item[1]))  # stable: ties keep first-seen order
        return [Cause(cause, tuple(refusals)) for cause, refusals in ordered]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "checked": self.checked,
            "skipped": self.skipped,
            "other": self.other,
            "failing": len(self.refusals),
            "causes": [
                {
                    "cause": group.cause,
                    "count": len(group.refusals),
                    "message": group.refusals[0].message,
                    "requests": [r.ref for r in group.refusals],
                }
                for group in self.causes()
            ],
            "failures": [
                {"request": r.ref, "path": r.path, "version": r.version, "message": r.message, "cause": r.cause}
                for r in self.refusals
            ],
        }


# A location is the part before the first ": ", dotted names and indices only.
_LOCATION = re.compile(r"[\w-]+(?:\.[\w-]+)*(?=: )")


def cause_of(message: str) -> str:
    """``messages.3.content.0: ...`` -> ``messages.N.content.N: ...``; only the location's
    indices go, so numbers in the message itself (limits, values) stay."""
    location = _LOCATION.match(message)
    if location is None:
        return message
    parts = ("N" if part.isdigit() else part for part in location.group().split("."))
    return ".".join(parts) + message[location.end() :]


def check(recorded: Iterable[Recorded], target: str, *, default_version: str) -> Report:
    """Validate every recorded request under ``target``; a request that names no
    known version is taken to have been sent under ``default_version``."""
    if target not in VERSIONS or default_version not in VERSIONS:
        raise KeyError(target if target not in VERSIONS else default_version)
    report = Report(target)
    for request in recorded:
        path = request.path.partition("?")[0].rstrip("/")
        if _model(path) is None and not path.endswith(BATCHES):
            report.other += 1
            continue
        if _refused(request.status):
            report.skipped += 1
            continue
        version = request.version if request.version in VERSIONS else default_version
        for ref, model, body in _bodies(path, request):
            # Refused under its own version (a batch's bad envelope has no model): not the upgrade's doing.
            if model is None or _message(model, version, body) is not None:
                report.skipped += 1
                continue
            report.checked += 1
            message = _message(model, target, body)
            if message is not None:
                report.refusals.append(Refusal(ref, path, version, message))
    return report


def _refused(status: int | None) -> bool:
    # A 429 says nothing about the request itself: it would go out again after the upgrade;
    # nor does a 499, a client that left before its answer.
    return status is not None and 400 <= status < 500 and status not in (429, 499)


def _model(path: str) -> type[pydantic.BaseModel] | None:
    for end, model in MODELS.items():
        if path.endswith(end):
            return model
    return None


def _bodies(path: str, request: Recorded) -> Iterator[tuple[str, type[pydantic.BaseModel] | None, Any]]:
    """(ref, head model, body) for each body the request carries; model None for a bad batch envelope."""
    model = _model(path)
    if model is not None:
        yield request.ref, model, request.body
        return
    body = request.body
    if type(body) is not dict or type(body.get("requests")) is not list:
        yield request.ref, None, body
        return
    for i, item in enumerate(body["requests"]):
        if type(item) is not dict or type(item.get("params")) is not dict:
            yield request.ref, None, item
            continue
        custom_id = item.get("custom_id")
        ref = f"{request.ref}, custom_id {custom_id}" if isinstance(custom_id, str) else f"{request.ref}, requests.{i}"
        yield ref, MessageCreateParams, item["params"]


def _message(model: type[pydantic.BaseModel], version: str, body: Any) -> str | None:
    """The API's refusal of ``body`` under ``version``, or None when it is valid."""
    if type(body) is not dict:
        return "The request body must be a JSON object"
    try:
        validate(VERSIONS.request_model(version, model), body)
    except errors.InvalidRequestError as exc:
        return exc.message
    return None


# -- reading recorded requests --------------------------------------------------


def from_request_log(answer: Any) -> list[Recorded]:
    """The requests of a ``GET /_dateline/requests`` answer."""
    entries = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        raise UnusableInput('not a request log: expected {"data": [...]}')
    recorded = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise UnusableInput(f"request log entry {i} is not a request")
        if entry.get("method", "POST") != "POST":
            continue
        ref = entry.get("request_id") or f"entry {i}"
        recorded.append(Recorded(ref, entry["path"], entry.get("body"), entry.get("version"), entry.get("status")))
    return recorded


def from_cassette(text: str, name: str) -> list[Recorded]:
    """The requests of a cassette (JSON Lines of upstream exchanges); see ``upstream._cassette``."""
    recorded = []
    for number, exchange in _json_lines(text, name):
        request = exchange.get("request") if isinstance(exchange, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("path"), str):
            raise UnusableInput(f'{name}, line {number}: an exchange needs a "request" with a "path"')
        if str(request.get("method", "")).upper() != "POST":
            continue
        headers = request.get("headers") if isinstance(request.get("headers"), dict) else {}
        response = exchange.get("response")
        status = response.get("status") if isinstance(response, dict) else None
        # A body recorded as text or base64 was not JSON: the API refused it under its own version too.
        body = request.get("json")
        recorded.append(Recorded(f"line {number}", request["path"], body, headers.get("anthropic-version"), status))
    return recorded


def from_requests_file(text: str, name: str) -> list[Recorded]:
    """One request per line: a Messages body, a batch request (``{"custom_id", "params"}``,
    as ``dateline batch submit`` reads), or ``{"path", "body"}`` with an optional
    ``"version"`` and ``"status"``."""
    recorded = []
    for number, line in _json_lines(text, name):
        ref = f"line {number}"
        if not isinstance(line, dict):
            raise UnusableInput(f"{name}, line {number}: expected a JSON object")
        if "path" in line and "body" in line:
            if not isinstance(line["path"], str):
                raise UnusableInput(f'{name}, line {number}: "path" must be a string')
            recorded.append(Recorded(ref, line["path"], line["body"], line.get("version"), line.get("status")))
        elif "custom_id" in line and "params" in line:
            recorded.append(Recorded(ref, BATCHES, {"requests": [line]}))
        else:
            recorded.append(Recorded(ref, "/v1/messages", line))
    return recorded


def _json_lines(text: str, name: str) -> Iterator[tuple[int, Any]]:
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            raise UnusableInput(f"{name}, line {number}: not valid JSON ({exc})") from None
