"""OpenAPI 3.1 documents of the Claude API as Dateline serves it, one per API version.

Each document is built from what the server runs, so it cannot drift from it:
the route table (every path's operations), each version's request models (the
very models that validate bodies: ``VERSIONS.request_model``), the SDK's
response models (``schemas/_responses.json``, written by
``scripts/gen_responses.py``: the SDK itself is never imported at run time),
the error envelope with the status of each error type (``errors``), and the
response changes each version declares. The ``/_dateline/`` admin API is left
out: it is not part of the Claude API.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from . import errors
from .betas import KNOWN_BETAS
from .versions import VERSIONS
from .versions.v2023_06_01 import (
    CompletionLegacyFieldsRemoved,
    CompletionStreamEventsAreNamed,
    CompletionStreamHasNoDoneEvent,
    CompletionStreamIsIncremental,
)

if TYPE_CHECKING:
    from .operation import Operation

__all__ = ["UnknownVersion", "document"]

OPENAPI = "3.1.0"
SCHEMAS = "#/components/schemas/"
JSON = "application/json"
SSE = "text/event-stream"
_MAX_IDS = 100


class UnknownVersion(ValueError):
    """The version asked for is not one Dateline knows."""


@dataclass(frozen=True)
class _Answer:
    """What one Claude API operation is, beyond what its ``Operation`` says."""

    operation_id: str
    summary: str
    #: The component of a 200 answer in JSON, or None when the answer is bytes.
    schema: str | None
    #: The answer's media type when it is not JSON.
    media: str = JSON
    #: The stream a ``"stream": true`` request gets instead (``messages`` or ``complete``).
    stream: str | None = None
    #: Query parameters, by name (see ``_QUERY``).
    query: tuple[str, ...] = ()
    #: An upload: the body is multipart/form-data, read by the handler itself.
    upload: bool = False
    #: Answered by a model (or an upstream), so it may also time out.
    answered: bool = False
    description: str = ""
    #: Request bodies to show, by name: valid under every version.
    examples: tuple[tuple[str, dict[str, Any]], ...] = ()


_PAGING = ("before_id", "after_id", "limit")
_HELLO = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello, Claude"}]}
_TOOLS = {
    "tools": [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ],
    "tool_choice": {"type": "any"},
}
_THINKING = {"type": "enabled", "budget_tokens": 1024}
_PROMPT = {"model": "claude-2.1", "max_tokens_to_sample": 256, "prompt": "\n\nHuman: Hello, Claude\n\nAssistant:"}

#: Every Claude API operation Dateline implements, by (method, path). A route
#: not listed here fails the document, so a new endpoint cannot go undocumented.
_ANSWERS: dict[tuple[str, str], _Answer] = {
    ("POST", "/v1/messages"): _Answer(
        "createMessage",
        "Create a Message",
        "Message",
        stream="messages",
        answered=True,
        description='With `"stream": true` the answer is a stream of server-sent events.',
        examples=(
            ("hello", _HELLO),
            ("streamed", {**_HELLO, "stream": True}),
            ("tool use", {**_HELLO, **_TOOLS}),
            ("thinking, streamed", {**_HELLO, "max_tokens": 2048, "thinking": _THINKING, "stream": True}),
        ),
    ),
    ("POST", "/v1/messages/count_tokens"): _Answer(
        "countMessageTokens",
        "Count the tokens of a Messages request",
        "MessageTokensCount",
        answered=True,
        examples=(("hello", {k: v for k, v in _HELLO.items() if k != "max_tokens"}),),
    ),
    ("POST", "/v1/complete"): _Answer(
        "createCompletion",
        "Create a Text Completion (legacy)",
        "Completion",
        stream="complete",
        answered=True,
        description='With `"stream": true` the answer is a stream of server-sent events.',
        examples=(("hello", _PROMPT), ("streamed", {**_PROMPT, "stream": True})),
    ),
    ("GET", "/v1/models"): _Answer("listModels", "List models", "ModelInfoPage", query=(*_PAGING, "lifecycle")),
    ("GET", "/v1/models/{model_id}"): _Answer("getModel", "Get a model", "ModelInfo"),
    ("POST", "/v1/messages/batches"): _Answer(
        "createMessageBatch",
        "Create a Message Batch",
        "MessageBatch",
        description=(
            "Only the envelope is checked here; each request's `params` are validated when it is "
            "processed, as `POST /v1/messages` validates a body under the batch's version, and an "
            "invalid one becomes an `errored` result."
        ),
        examples=(("one request", {"requests": [{"custom_id": "hello-1", "params": _HELLO}]}),),
    ),
    ("GET", "/v1/messages/batches"): _Answer(
        "listMessageBatches", "List Message Batches", "MessageBatchPage", query=_PAGING
    ),
    ("GET", "/v1/messages/batches/{batch_id}"): _Answer("getMessageBatch", "Get a Message Batch", "MessageBatch"),
    ("DELETE", "/v1/messages/batches/{batch_id}"): _Answer(
        "deleteMessageBatch", "Delete an ended Message Batch", "DeletedMessageBatch"
    ),
    ("POST", "/v1/messages/batches/{batch_id}/cancel"): _Answer(
        "cancelMessageBatch", "Cancel a Message Batch", "MessageBatch"
    ),
    ("GET", "/v1/messages/batches/{batch_id}/results"): _Answer(
        "getMessageBatchResults",
        "Get the results of an ended Message Batch",
        None,
        media="application/binary",
        description=(
            "JSON Lines, one `MessageBatchIndividualResponse` (see the components) per request, in request order."
        ),
    ),
    ("POST", "/v1/files"): _Answer(
        "uploadFile", "Upload a file", "FileMetadata", upload=True, description="Beta `files-api-2025-04-14`."
    ),
    ("GET", "/v1/files"): _Answer(
        "listFiles",
        "List files",
        "FileMetadataPage",
        query=(*_PAGING, "page", "scope_id", "ids"),
        description="Beta `files-api-2025-04-14`.",
    ),
    ("GET", "/v1/files/{file_id}"): _Answer(
        "getFileMetadata", "Get a file's metadata", "FileMetadata", description="Beta `files-api-2025-04-14`."
    ),
    ("DELETE", "/v1/files/{file_id}"): _Answer(
        "deleteFile", "Delete a file", "DeletedFile", description="Beta `files-api-2025-04-14`."
    ),
    ("GET", "/v1/files/{file_id}/content"): _Answer(
        "downloadFile",
        "Download a file",
        None,
        media="*/*",
        description=(
            "The file's bytes, as its `mime_type`. Beta `files-api-2025-04-14`. Only files that tools "
            "made are downloadable (`dateline serve --files-downloadable` lifts that)."
        ),
    ),
}

_QUERY: dict[str, dict[str, Any]] = {
    "before_id": {
        "description": "The page of objects right before this one (newer, still in list order).",
        "schema": {"type": "string"},
    },
    "after_id": {
        "description": "The page of objects right after this one (older).",
        "schema": {"type": "string"},
    },
    "limit": {
        "description": "Objects per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
    },
    "page": {
        "description": "The opaque cursor of a previous page's `next_page`.",
        "schema": {"type": "string"},
    },
    "scope_id": {"description": "Only the files of this scope (a session).", "schema": {"type": "string"}},
    "ids": {
        # Counted once each: a repeated id is no second item, so no maxItems.
        "description": f"Only these files, at most {_MAX_IDS} distinct ids (unknown ones are left out); "
        "also sent as `ids[]`.",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    "lifecycle": {
        "description": "Only models in these lifecycle stages, at most 3 (also sent as `lifecycle[]`); "
        "without it, active and deprecated models.",
        "schema": {
            "type": "array",
            "maxItems": 3,
            "items": {"type": "string", "enum": ["active", "deprecated", "retired"]},
        },
        "style": "form",
        "explode": True,
    },
}


def document(app_or_routes: Any, version: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``version`` (default: head) for a Dateline app or its routes.

    Raises ``UnknownVersion`` for a version Dateline does not know.
    """
    version = version or VERSIONS.head.date
    if version not in VERSIONS:
        raise UnknownVersion(f'version: "{version}" is not a valid version')
    return copy.deepcopy(_build(_table(app_or_routes), version))


def _table(app_or_routes: Any) -> tuple[tuple[str, str, Operation], ...]:
    """(method, path, operation) of every Claude API operation in the route table."""
    routes = getattr(app_or_routes, "routes", app_or_routes)
    table = []
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        operations = getattr(endpoint, "operations", None)
        if not operations or not getattr(endpoint, "claude_api", True):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # Starlette's converters: not OpenAPI
        for method, op in operations.items():
            if op.admin or (method == "HEAD" and op is operations.get("GET")):
                continue  # the admin API is not the Claude API; HEAD is GET without the body
            table.append((method, path, op))
    return tuple(table)


@lru_cache(maxsize=16)
def _build(table: tuple[tuple[str, str, Operation], ...], version: str) -> dict[str, Any]:
    requests, bodies = _request_schemas(version, [op.params for _, _, op in table if op.params is not None])
    answers = _responses()["schemas"]
    clash = requests.keys() & answers.keys()
    if clash:
        raise ValueError(f"request and response schemas share names: {sorted(clash)}")
    schemas = {**requests, **answers}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in table:
        answer = _ANSWERS.get((method, path))
        if answer is None:
            raise LookupError(f"{method} {path} is not documented: add it to dateline.openapi._ANSWERS")
        changes = _document_changes(version, op.endpoint, schemas)
        body = bodies[op.params] if op.params is not None else None
        paths.setdefault(path, {})[method.lower()] = _operation(path, answer, body, changes)
    return {
        "openapi": OPENAPI,
        "info": {
            "title": "Claude API (Dateline)",
            "version": version,
            "description": _INFO,
        },
        "security": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "BearerAuth": {"type": "http", "scheme": "bearer", "description": "What today's SDKs send."},
            },
            "parameters": {
                "AnthropicVersion": {
                    "name": "anthropic-version",
                    "in": "header",
                    "required": True,
                    "description": "The API version: this document is of this one.",
                    "schema": {"type": "string", "enum": [version]},
                },
                "AnthropicBeta": {
                    "name": "anthropic-beta",
                    "in": "header",
                    "required": False,
                    "description": "Beta features, a comma-separated list (the header may also repeat).",
                    "schema": {"type": "string", "pattern": _beta_pattern()},
                },
            },
            "headers": {
                "RequestId": {
                    "description": "This request's id, as in an error's `request_id`.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^req_"},
                },
                "ShouldRetry": {
                    "description": "Whether the SDKs should retry the request.",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                },
            },
            "responses": _error_responses(),
        },
    }


_INFO = (
    "The Claude API as Dateline serves it under one API version. Request bodies are "
    "described by the models that validate them under this version (generated from the "
    "official SDK's param types); answers by the official SDK's response models. "
    "A request that fits its schema may still be refused by the API's rules beyond it "
    "(a model that does not exist, a `max_tokens` over the model's limit, …), always "
    "with the error envelope. `?beta=true`, which the SDKs add to beta calls, is accepted and ignored."
)


# -- requests --------------------------------------------------------------------------


def _request_schemas(version: str, heads: Iterable[type[BaseModel]]) -> tuple[dict[str, Any], dict[type, Any]]:
    """The version's request models and their definitions, named as components, and
    the reference to each head model's body schema.

    Definitions are named as the SDK names param types (``TextBlockParam``), which
    keeps them apart from the response objects of the same name (``TextBlock``).
    """
    heads = list(dict.fromkeys(heads))
    models = [VERSIONS.request_model(version, head) for head in heads]
    refs, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template=SCHEMAS + "{model}", schema_generator=_BodySchema
    )
    found = defs.get("$defs", {})
    names = {name: name if name.endswith(("Param", "Params")) else f"{name}Param" for name in found}
    schemas = {names[name]: _renamed(schema, names) for name, schema in found.items()}
    bodies = {head: _renamed(refs[model, "validation"], names) for head, model in zip(heads, models)}
    return _reachable(schemas, list(bodies.values())), bodies


def _reachable(schemas: dict[str, Any], roots: list[Any]) -> dict[str, Any]:
    """The definitions that ``roots`` refer to, directly or not (the others describe no body)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMAS) and ref[len(SCHEMAS) :] not in seen:
                seen.add(ref[len(SCHEMAS) :])
                todo.append(schemas[ref[len(SCHEMAS) :]])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return {name: schema for name, schema in schemas.items() if name in seen}


class _BodySchema(GenerateJsonSchema):
    """Pydantic's JSON Schema of a request model, less the union members that only word errors.

    A generated union picked by a field's value (a message by its ``role``) sends an
    unknown value to a member tagged ``<?>`` that holds only that field, so the error
    reads ``messages.0.role: …``. No body is ever accepted through it: it is no shape
    a request may take, and a schema listing it would accept ``{"role": "user"}``.
    """

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        choices = {tag: choice for tag, choice in schema["choices"].items() if tag != _ERRORS_ONLY}
        return super().tagged_union_schema({**schema, "choices": choices})


_ERRORS_ONLY = "<?>"  # scripts/gen_schemas.py, hidden_union


def _renamed(node: Any, names: dict[str, str]) -> Any:
    """``node`` with its references to components renamed (``$ref`` and discriminator mappings)."""
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _ref(value, names)
        elif key == "mapping" and isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            out[key] = {tag: _ref(ref, names) for tag, ref in value.items()}
        else:
            out[key] = _renamed(value, names)
    return out


def _ref(ref: str, names: dict[str, str]) -> str:
    name = ref.removeprefix(SCHEMAS)
    return SCHEMAS + names.get(name, name) if ref.startswith(SCHEMAS) else ref


def _beta_pattern() -> str:
    known = "|".join(re.escape(beta) for beta in sorted(KNOWN_BETAS))
    item = rf"[ \t]*(?:{known})[ \t]*"
    return rf"^{item}(?:,{item})*$"


# -- responses -------------------------------------------------------------------------


@cache
def _responses() -> dict[str, Any]:
    data = resources.files("dateline.schemas").joinpath("_responses.json").read_text(encoding="utf-8")
    return json.loads(data)  # type: ignore[no-any-return]


def _ref_to(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


#: The API's error types by HTTP status (errors.py holds one class per type).
_ERROR_STATUSES: dict[int, type[errors.APIError]] = {cls.status_code: cls for cls in errors.ERROR_TYPES.values()}


def _error_name(status: int) -> str:
    return _ERROR_STATUSES[status].__name__


def _error_responses() -> dict[str, Any]:
    out = {}
    for status, cls in sorted(_ERROR_STATUSES.items()):
        schema = {
            "allOf": [
                _ref_to("ErrorResponse"),
                {
                    "type": "object",
                    "required": ["request_id"],
                    "properties": {
                        "error": {"type": "object", "properties": {"type": {"const": cls.type}}},
                        "request_id": {"type": "string"},
                    },
                },
            ]
        }
        out[cls.__name__] = {
            "description": f"`{cls.type}`",
            "headers": {
                "request-id": {"$ref": "#/components/headers/RequestId"},
                "x-should-retry": {"$ref": "#/components/headers/ShouldRetry"},
            },
            "content": {JSON: {"schema": schema}},
        }
    return out


def _statuses(answer: _Answer, has_body: bool) -> list[int]:
    """The error statuses of an operation: the API's own for every request, plus
    413 where there is a body and 504 where a model (maybe an upstream) answers."""
    statuses = [400, 401, 403, 404, 429, 500, 529]
    if has_body:
        statuses.append(413)
    if answer.answered:
        statuses.append(504)
    return sorted(statuses)


def _event(name: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event: its name (``None``: a data-only event) and its data."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"const": name or "message"}, "data": data},
    }


def _json_data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": JSON, "contentSchema": schema}


@dataclass
class _Changes:
    """How a version's answers on one endpoint differ from head's, as its declared changes say."""

    completion: dict[str, Any]
    named_events: bool = True
    done_event: bool = False
    notes: tuple[str, ...] = ()


def _legacy_completion(changes: _Changes, schemas: dict[str, Any]) -> None:
    schemas.setdefault(
        "LegacyCompletion",
        {
            "allOf": [
                _ref_to("Completion"),
                {
                    "type": "object",
                    "required": ["exception", "truncated"],
                    "properties": {"exception": {"type": "null"}, "truncated": {"const": False}},
                },
            ],
            "description": "A completion as versions before 2023-06-01 have it.",
        },
    )
    changes.completion = _ref_to("LegacyCompletion")


def _data_only(changes: _Changes, schemas: dict[str, Any]) -> None:
    changes.named_events = False


def _done(changes: _Changes, schemas: dict[str, Any]) -> None:
    changes.done_event = True


def _cumulative(changes: _Changes, schemas: dict[str, Any]) -> None:
    changes.notes += ("Each `completion` event carries all the text so far, not only the new text.",)


#: What each declared response change means for a document. A version whose plan
#: holds a response change not listed here has no document: document it first.
_RESPONSE_CHANGES: dict[type, Callable[[_Changes, dict[str, Any]], None]] = {
    CompletionLegacyFieldsRemoved: _legacy_completion,
    CompletionStreamEventsAreNamed: _data_only,
    CompletionStreamHasNoDoneEvent: _done,
    CompletionStreamIsIncremental: _cumulative,
}


def _document_changes(version: str, endpoint: str, schemas: dict[str, Any]) -> _Changes:
    plan = VERSIONS.plan(version, endpoint)
    changes = _Changes(completion=_ref_to("Completion"))
    for change in dict.fromkeys((*plan.response_down, *plan.stream_down, *plan.error_down)):
        apply = _RESPONSE_CHANGES.get(type(change))
        if apply is None:
            raise NotImplementedError(f"{type(change).__name__}: a response change dateline.openapi does not document")
        apply(changes, schemas)
    return changes


def _stream_events(stream: str, changes: _Changes) -> dict[str, Any]:
    """The schema of one event of a stream (Open API 3.1 has the media type's schema describe each event)."""
    if stream == "messages":
        named = [
            (_responses()["schemas"][name]["properties"]["type"]["const"], name)
            for name in sorted(_responses()["roots"])
            if name.startswith("Raw") and name.endswith("Event")
        ]
        events = [_event(event, _json_data(_ref_to(name))) for event, name in named]
        events.append(_event("ping", _json_data(_ref_to("PingEvent"))))
        events.append(_event("error", _json_data(_ref_to("ErrorResponse"))))
        return {"oneOf": events}
    # Text Completions: named events since 2023-06-01; data-only, ending with [DONE], before.
    name = (lambda event: event) if changes.named_events else (lambda event: None)
    events = [
        _event(name("completion"), _json_data(changes.completion)),
        _event("ping", _json_data(_ref_to("PingEvent"))),
        _event(name("error"), _json_data(_ref_to("ErrorResponse"))),
    ]
    if changes.done_event:
        events.append(_event(None, {"const": "[DONE]"}))
    return {"oneOf": events}


# -- operations ------------------------------------------------------------------------


def _operation(path: str, answer: _Answer, body: dict[str, Any] | None, changes: _Changes) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"$ref": "#/components/parameters/AnthropicVersion"},
        {"$ref": "#/components/parameters/AnthropicBeta"},
    ]
    for name in re.findall(r"\{(\w+)\}", path):
        parameters.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    for name in answer.query:
        parameters.append({"name": name, "in": "query", "required": False, **_QUERY[name]})
    out: dict[str, Any] = {"operationId": answer.operation_id, "summary": answer.summary}
    description = " ".join(filter(None, (answer.description, *changes.notes)))
    if description:
        out["description"] = description
    out["parameters"] = parameters
    has_body = body is not None or answer.upload
    if body is not None:
        media: dict[str, Any] = {"schema": body}
        if answer.examples:
            media["examples"] = {name: {"value": value} for name, value in answer.examples}
        out["requestBody"] = {"required": True, "content": {JSON: media}}
    elif answer.upload:
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": _UPLOAD}}}
    out["responses"] = {"200": _success(answer, changes)}
    for status in _statuses(answer, has_body):
        out["responses"][str(status)] = {"$ref": f"#/components/responses/{_error_name(status)}"}
    return out


_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "additionalProperties": False,
    "properties": {
        # Any bytes are a file: no JSON type to keep to (an "integer" part is just its digits).
        "file": {"contentMediaType": "application/octet-stream", "description": "The file."},
        "expires_in_seconds": {
            "type": "integer",
            "minimum": 3600,
            "maximum": 7_776_000,
            "description": "Seconds until the file expires (one hour to ninety days).",
        },
    },
}


def _success(answer: _Answer, changes: _Changes) -> dict[str, Any]:
    headers = {"request-id": {"$ref": "#/components/headers/RequestId"}}
    content: dict[str, Any] = {}
    if answer.schema is not None:
        schema = changes.completion if answer.schema == "Completion" else _ref_to(answer.schema)
        content[JSON] = {"schema": schema}
    else:
        content[answer.media] = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
    if answer.stream is not None:
        content[SSE] = {"schema": _stream_events(answer.stream, changes)}
    return {"description": answer.summary, "headers": headers, "content": content}
