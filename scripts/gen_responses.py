#!/usr/bin/env python
"""Generate src/dateline/schemas/_responses.json from the anthropic SDK's response models.

The SDK's response models are generated from Anthropic's OpenAPI spec, like its param types
(see gen_schemas.py), so their JSON Schemas are the most complete machine-readable description
of what each endpoint answers. This script dumps them, with shared definitions, into one JSON
file that the server reads for its OpenAPI documents (dateline.openapi): the SDK is a test-only
dependency and is never imported at run time.

Where the API sends something the SDK has no model for (the legacy Text Completions object in
SDKs that dropped it, `ping` stream events, error types without an error object), the model is
written here from the API's documented shape, and the file's `notes` say so.

Usage: python scripts/gen_responses.py [--check] [--out FILE]
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
from pydantic.json_schema import models_json_schema

OUT = Path(__file__).resolve().parents[1] / "src" / "dateline" / "schemas" / "_responses.json"
REF = "#/components/schemas/{model}"

# Error types the API sends that the SDK's ErrorObject union has no member for.
# request_too_large: the 413 of the API's front, before a request reaches the API (its docs, "errors").
EXTRA_ERROR_TYPES = ("request_too_large",)


def legacy_completion(notes: list[str]) -> type[pydantic.BaseModel]:
    """/v1/complete's answer. Recent SDKs dropped the legacy endpoint: its last shape, then."""
    try:
        from anthropic.types import Completion  # type: ignore[attr-defined]
    except ImportError:
        notes.append("Completion: not in this SDK; written from the last SDK that had it")
        from anthropic._models import BaseModel

        class Completion(BaseModel):  # type: ignore[no-redef]
            id: str
            completion: str
            model: str
            stop_reason: Optional[str] = None
            type: Literal["completion"]

    return Completion


def ping_event(notes: list[str]) -> type[pydantic.BaseModel]:
    from anthropic._models import BaseModel

    notes.append("PingEvent: the API interleaves `ping` events in streams; the SDK has no model for them")

    class PingEvent(BaseModel):
        type: Literal["ping"]

    return PingEvent


def error_objects(notes: list[str]) -> dict[str, type[pydantic.BaseModel]]:
    """Error objects for the API's error types that the SDK's ErrorObject union lacks."""
    from anthropic._models import BaseModel
    from anthropic.types.shared.error_object import ErrorObject
    from anthropic.types.shared.error_type import ErrorType

    members = typing.get_args(typing.get_args(ErrorObject)[0])
    modelled = {typing.get_args(m.model_fields["type"].annotation)[0] for m in members}
    missing = [t for t in (*typing.get_args(ErrorType), *EXTRA_ERROR_TYPES) if t not in modelled]
    if missing:
        notes.append(f"ErrorResponse: error objects added for types the SDK has none for: {', '.join(missing)}")
    objects = {}
    for error_type in missing:
        name = "".join(part.title() for part in error_type.split("_")) + "Object"
        objects[name] = pydantic.create_model(
            name,
            __base__=BaseModel,
            __module__=__name__,
            message=(str, ...),
            type=(Literal[error_type], ...),  # type: ignore[valid-type]
        )
    return objects


def complete_error_union(schemas: dict[str, Any], added: list[str]) -> None:
    """ErrorResponse's ``error`` union, with the added objects: wherever the envelope appears."""
    try:
        union = schemas["ErrorResponse"]["properties"]["error"]["anyOf"]
    except KeyError:
        raise SystemExit("ErrorResponse.error is no longer a union: update complete_error_union") from None
    union.extend({"$ref": REF.format(model=name)} for name in added)


def roots(notes: list[str]) -> dict[str, Any]:
    """Every object an endpoint answers with, by the name the documents give it."""
    import anthropic.types as types
    from anthropic.pagination import SyncPage, SyncPageCursor
    from anthropic.types.messages import DeletedMessageBatch, MessageBatch, MessageBatchIndividualResponse
    from anthropic.types.shared import ErrorResponse

    events = typing.get_args(typing.get_args(types.RawMessageStreamEvent)[0])
    return {
        "Message": types.Message,
        "MessageTokensCount": types.MessageTokensCount,
        "Completion": legacy_completion(notes),
        "ModelInfo": types.ModelInfo,
        "ModelInfoPage": SyncPage[types.ModelInfo],
        "MessageBatch": MessageBatch,
        "MessageBatchPage": SyncPage[MessageBatch],
        "DeletedMessageBatch": DeletedMessageBatch,
        "MessageBatchIndividualResponse": MessageBatchIndividualResponse,
        "FileMetadata": types.FileMetadata,
        "FileMetadataPage": SyncPageCursor[types.FileMetadata],
        "DeletedFile": types.DeletedFile,
        "ErrorResponse": ErrorResponse,
        "PingEvent": ping_event(notes),
        **{event.__name__: event for event in events},
    }


def rename_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: rename_refs(v, names) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF.format(model="")):
            name = ref.rsplit("/", 1)[1]
            out["$ref"] = REF.format(model=names.get(name, name))
        return out
    if isinstance(node, list):
        return [rename_refs(v, names) for v in node]
    return node


def generate() -> str:
    import anthropic

    notes: list[str] = []
    wanted = roots(notes)
    extra_errors = error_objects(notes)
    wanted.update(extra_errors)
    keys, defs = models_json_schema([(model, "validation") for model in wanted.values()], ref_template=REF)
    # A root's definition goes by the name chosen above (SyncPage[ModelInfo] -> ModelInfoPage).
    names = {}
    for name, model in wanted.items():
        generated = keys[model, "validation"]["$ref"].rsplit("/", 1)[1]
        if generated != name:
            names[generated] = name
    schemas = {names.get(k, k): rename_refs(v, names) for k, v in defs.get("$defs", {}).items()}
    complete_error_union(schemas, list(extra_errors))
    clashes = sorted(n for n in schemas if n.endswith("Param"))
    if clashes:  # request models' definitions take the names ending in Param (dateline.openapi)
        raise SystemExit(f"response definitions named like request ones: {clashes}")
    data = {
        "source": f"anthropic {anthropic.__version__}",
        "generator": "scripts/gen_responses.py; do not edit",
        "notes": sorted(notes),
        "roots": sorted(set(wanted) - set(extra_errors)),
        "schemas": dict(sorted(schemas.items())),
    }
    text = json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    return re.sub(r"[ \t]+\n", "\n", text)


def main() -> None:
    parser = argparse.ArgumentParser(description="Dump the SDK's response models' JSON Schemas for the documents.")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a unified diff if the file differs from what the SDK gives",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="the data file (default: %(default)s)")
    args = parser.parse_args()
    text = generate()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), str(args.out), "generated from the installed SDK"
            )
        )
        if diff:
            sys.stdout.write(diff)
            import anthropic

            sys.exit(
                f"{args.out} differs from what anthropic {anthropic.__version__} gives; "
                "regenerate with: python scripts/gen_responses.py"
            )
        print(f"{args.out} matches what the installed SDK gives")
        return
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text) // 1024} KiB, {text.count(chr(10))} lines)")


if __name__ == "__main__":
    main()
