"""Models: ``GET /v1/models`` and ``GET /v1/models/{model_id}``, and the
``ModelInfo`` object as the API sends it (the catalog itself is data:
``dateline.catalog`` and its ``models.toml``)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from .. import errors
from ..catalog import LIFECYCLES, Catalog, ModelInfo
from ..operation import Call
from ._paging import PageQuery, envelope, window

#: Keys of the wire object beyond ``type``, ``id``, ``display_name``, ``created_at``.
OPTIONAL_FIELDS = (
    "max_input_tokens",
    "max_tokens",
    "capabilities",
    "lifecycle",
    "deprecated_at",
    "retires_at",
    "line",
)

#: The stages listed when a request names none: retired models only when asked for.
LISTED_BY_DEFAULT = ("active", "deprecated")
MAX_LIFECYCLES = len(LIFECYCLES)


async def list_models(call: Call) -> dict[str, Any]:
    """The models listed, of those the caller's key may use."""
    query = PageQuery.of(call.query)
    stages = lifecycle_filter(call.query.getlist("lifecycle[]") or call.query.getlist("lifecycle"))
    try:
        return model_page(call.state.catalog, query, lifecycle=stages, allowed=_allowed(call))
    except KeyError as exc:
        raise query.unknown(exc.args[0], "model") from None


async def retrieve(call: Call) -> dict[str, Any]:
    """Any listed model by id or alias, a retired one too (its record stays);
    one the caller's key may not use is not found, as it is not listed."""
    model_id = call.path_params["model_id"]
    info = call.state.catalog.get(model_id)
    allowed = _allowed(call)
    if info is None or (allowed is not None and not allowed(info)):
        raise errors.NotFoundError(f"model: {model_id}")
    return model_object(info)


def _allowed(call: Call) -> Callable[[ModelInfo], bool] | None:
    """For a key kept to some models: whether it may use a model (by its id or any alias)."""
    key = call.key
    if key is None or key.settings.allowed_models is None:
        return None
    return lambda info: key.settings.allows(info.id, *info.aliases)


def lifecycle_filter(values: list[str]) -> tuple[str, ...]:
    """The stages ``lifecycle`` asks for (the SDK sends ``lifecycle[]=...``
    once per stage), checked as the API checks a list; none: active and deprecated."""
    if not values:
        return LISTED_BY_DEFAULT
    if len(values) > MAX_LIFECYCLES:
        raise errors.InvalidRequestError(
            f"lifecycle: List should have at most {MAX_LIFECYCLES} items after validation, not {len(values)}"
        )
    for index, value in enumerate(values):
        if value not in LIFECYCLES:
            stages = ", ".join(f"'{stage}'" for stage in LIFECYCLES[:-1]) + f" or '{LIFECYCLES[-1]}'"
            raise errors.InvalidRequestError(f"lifecycle.{index}: Input should be {stages}")
    return tuple(values)


def model_page(
    catalog: Catalog,
    query: PageQuery,
    *,
    lifecycle: Collection[str] | None = None,
    fields: Collection[str] | None = None,
    allowed: Callable[[ModelInfo], bool] | None = None,
) -> dict[str, Any]:
    """One page of ``GET /v1/models``, optionally of the models in the given
    lifecycle stages only. A cursor must be a listed id (not an alias), of any
    stage: otherwise ``KeyError(cursor)``. ``allowed`` keeps only the models it accepts."""
    stages = None if lifecycle is None else frozenset(lifecycle)

    def listed(info: ModelInfo) -> bool:
        return (stages is None or info.lifecycle in stages) and (allowed is None or allowed(info))

    chosen, has_more = window(catalog.list(), query, _model_id, listed)
    return envelope([model_object(info, fields=fields) for info in chosen], has_more)


def model_object(info: ModelInfo, *, fields: Collection[str] | None = None) -> dict[str, Any]:
    """The ``ModelInfo`` object as the API sends it; ``fields`` limits the
    optional keys (``OPTIONAL_FIELDS``) to those named, ``None`` sends them all."""
    out: dict[str, Any] = {
        "type": "model",
        "id": info.id,
        "display_name": info.display_name,
        "created_at": info.created_at,
    }
    optional: dict[str, Any] = {
        "max_input_tokens": info.max_input_tokens,
        "max_tokens": info.max_tokens,
        "capabilities": capabilities(info),
        "lifecycle": info.lifecycle,
        "deprecated_at": info.deprecated_at,
        "retires_at": info.retires_at,
        "line": info.line,
    }
    for key, value in optional.items():
        if fields is None or key in fields:
            out[key] = value
    return out


def capabilities(info: ModelInfo) -> dict[str, Any] | None:
    """The wire ``capabilities`` object (the SDK's ``ModelCapabilities``), every
    key present, each leaf read from the model's feature words; null for a model
    whose features are unknown (one another backend serves)."""
    if info.features is None:
        return None
    f = info.has
    efforts = info.effort_levels
    thinking_types = info.thinking_types
    return {
        "batch": _supported(f("batch")),
        "citations": _supported(f("citations")),
        "code_execution": _supported(f("ptc")),
        "context_management": {
            "supported": f("ctx_edit") or f("compact"),
            "clear_thinking_20251015": _supported(f("ctx_edit") and info.supports_thinking),
            "clear_tool_uses_20250919": _supported(f("ctx_edit")),
            "compact_20260112": _supported(f("compact")),
        },
        "effort": {
            "supported": bool(efforts),
            **{level: _supported(level in efforts) for level in _EFFORT_KEYS},
        },
        "image_input": _supported(f("image")),
        "pdf_input": _supported(f("pdf")),
        "server_tools": {
            "supported": f("web_search") or f("code_exec"),
            "code_execution": _supported(f("code_exec")),
            "web_search": _supported(f("web_search")),
        },
        "structured_outputs": _supported(f("structured")),
        "thinking": {
            "supported": info.supports_thinking,
            # ``disabled`` with low_disable is accepted (at effort high or lower): supported.
            "types": {kind: _supported(kind in thinking_types) for kind in _THINKING_KEYS},
        },
    }


# The order the API sends them in (the SDK's field order).
_EFFORT_KEYS = ("low", "medium", "high", "max", "xhigh")
_THINKING_KEYS = ("adaptive", "between_tools", "disabled", "enabled")


def _supported(flag: bool) -> dict[str, bool]:
    return {"supported": flag}


def _model_id(info: ModelInfo) -> str:
    return info.id
