"""The API's per-model rules and request limits on a Messages request.

What a model accepts is read from its catalog entry's feature words
(``info.has("word")``). A model whose features are unknown (one an upstream
serves) is that upstream's to judge; the limits on content (images, cache
breakpoints) hold for every model. The checks run once per distinct body, big
bodies in a worker thread, and read the conversation in one pass.
Where the API's own wording is not known the message is Dateline's, in the
API's style (README, "Per-model rules and request limits").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from .. import errors, tokenizer
from .._content import blocks
from ..catalog import ModelInfo
from ..operation import Call
from ._image_size import dimensions

_USE_ADAPTIVE = 'Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
#: The feature word that lets a model take each thinking type.
_THINKING_WORD = {"enabled": "think", "adaptive": "adaptive", "between_tools": "between"}
#: Effort levels not every effort model takes, and the word for each.
_EFFORT_WORD = {"xhigh": "effort_xhigh", "max": "effort_max"}
_ABOVE_HIGH = ("xhigh", "max")
#: An older client's sampling parameters, and the values that mean "not set".
_SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": None}


_MAX_MEDIA = 100  # images and documents in one request
_MAX_IMAGE_BYTES = 5 * 1024 * 1024  # of base64 data
_MANY_IMAGES = 20  # above this many images, each side is at most _MANY_IMAGES_SIDE
_MANY_IMAGES_SIDE = 2000
_MAX_BREAKPOINTS = 4
_TTL_ORDER = (
    "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. "
    "Note that blocks are processed in the following order: `tools`, `system`, `messages`."
)
_EMPTY_TEXT = "cache_control cannot be set for empty text blocks"
_PREWARM = "`max_tokens: 0` pre-warms the prompt cache and cannot be used {}."


def known(info: ModelInfo | None) -> TypeGuard[ModelInfo]:
    """Whether Dateline judges this model's rules (its features are known)."""
    return info is not None and info.features is not None


# -- parameters ----------------------------------------------------------------------------


def check_params(call: Call, info: ModelInfo | None, body: dict[str, Any], *, create: bool) -> None:
    """The rules on a request's parameters: effort, thinking, tool choice, sampling, pre-warming."""
    if known(info):
        check_effort(info, body)
        check_thinking(info, body)
        check_tool_choice(info, body)
        if create:
            check_sampling(info, call.exchange.beside if call.exchange is not None else {})
    if create:
        check_prewarm(call, body)


def _effort(body: dict[str, Any]) -> str | None:
    return (body.get("output_config") or {}).get("effort")


def check_effort(info: ModelInfo, body: dict[str, Any]) -> None:
    effort = _effort(body)
    if effort is None:
        return
    if not info.has("effort"):
        raise errors.InvalidRequestError("This model does not support the effort parameter.")
    word = _EFFORT_WORD.get(effort)
    if word is not None and not info.has(word):
        raise errors.InvalidRequestError(f"output_config.effort '{effort}' is not supported on this model.")


def check_thinking(info: ModelInfo, body: dict[str, Any]) -> None:
    kind = (body.get("thinking") or {}).get("type")
    if kind is None:
        return
    if kind == "disabled":
        if info.has("no_disable"):
            raise errors.InvalidRequestError(
                f'"thinking.type.disabled" is not supported for this model. {_USE_ADAPTIVE}'
            )
        effort = _effort(body) or info.default_effort
        if info.has("low_disable") and effort in _ABOVE_HIGH:
            raise errors.InvalidRequestError(
                f"output_config.effort '{effort}' is not supported when thinking is disabled on this model. "
                "Use effort 'high' or below, or enable thinking."
            )
        return
    if info.has(_THINKING_WORD[kind]):
        return
    if not (info.has("think") or info.has("adaptive")):
        raise errors.InvalidRequestError(f"'{info.id}' does not support thinking.")
    if info.has("adaptive"):
        raise errors.InvalidRequestError(f'"thinking.type.{kind}" is not supported for this model. {_USE_ADAPTIVE}')
    raise errors.InvalidRequestError(f"{kind} thinking is not supported on this model")


def check_tool_choice(info: ModelInfo, body: dict[str, Any]) -> None:
    if info.has("no_forced_tool") and (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise errors.InvalidRequestError('tool_choice: type "tool" and "any" are not supported for this model.')


def check_sampling(info: ModelInfo, beside: dict[str, Any]) -> None:
    """An older client's ``temperature`` / ``top_p`` / ``top_k`` (beside the head request)."""
    if not info.has("no_sampling"):
        return
    for name, default in _SAMPLING_DEFAULTS.items():
        value = beside.get(name)
        if value is not None and value != default:
            raise errors.InvalidRequestError(f"{name} is deprecated for this model.")


def check_prewarm(call: Call, body: dict[str, Any]) -> None:
    """``max_tokens: 0`` fills the prompt cache and answers nothing: only plainly, and not in a batch."""
    if body.get("max_tokens") != 0:
        return
    if body.get("stream"):
        raise errors.InvalidRequestError(_PREWARM.format("with `stream: true`"))
    if (body.get("thinking") or {}).get("type") == "enabled":
        raise errors.InvalidRequestError(_PREWARM.format('with `thinking.type: "enabled"`'))
    if (body.get("output_config") or {}).get("format") is not None:
        raise errors.InvalidRequestError(_PREWARM.format("with `output_config.format`"))
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise errors.InvalidRequestError(_PREWARM.format('with `tool_choice` of type "any" or "tool"'))
    if call.receive is None:  # no HTTP request behind the call: the batch processor's
        raise errors.InvalidRequestError(_PREWARM.format("in a Message Batch"))


# -- content: one pass over tools, system and messages -------------------------------------


@dataclass(slots=True)
class _Content:
    """What the pass over a request's content found, for the rules on the whole request."""

    markers: int = 0
    seen_5m: bool = False
    #: Where a ttl='1h' marker first follows a ttl='5m' one.
    misordered: str | None = None
    images: int = 0
    documents: int = 0
    #: Base64 images: their base64 data and the location the dimension rule names.
    pictures: list[tuple[str, str]] = field(default_factory=list)


_MEDIA = ("image", "document")
_NEVER_CACHED = ("thinking", "redacted_thinking")


def check_content(info: ModelInfo | None, body: dict[str, Any]) -> None:
    """Cache breakpoints, images and documents, and the per-model rules on messages."""
    found = _Content()
    for i, tool in enumerate(body.get("tools") or ()):
        if tool.get("cache_control") is not None:
            _tool(found, tool, i)
    system = body.get("system")
    if type(system) is list:
        for i, block in enumerate(system):
            if block.get("cache_control") is not None:
                _marker(found, block, f"system.{i}", f"system.{i}")
    system_ok = not known(info) or info.has("system_mid")
    messages = body["messages"]
    for i, message in enumerate(messages):
        if message.get("role") == "system" and not system_ok:
            raise errors.InvalidRequestError("role 'system' is not supported on this model")
        content = message.get("content")
        if type(content) is not list:
            continue  # a string: no marker, no media
        for j, block in enumerate(content):
            # Most blocks are plain: only those with something to check build their location.
            if (
                block.get("cache_control") is not None
                or block.get("type") in _MEDIA
                or type(block.get("content")) is list
            ):
                _block(found, block, f"messages.{i}.content.{j}")
    if known(info) and info.has("no_prefill") and messages and _prefill(messages[-1]):
        raise errors.InvalidRequestError(
            "This model does not support assistant message prefill. The conversation must end with a user message."
        )
    _check_breakpoints(found, body)
    _check_media(found)


def _prefill(message: dict[str, Any]) -> bool:
    """A final assistant message, unless it is a paused turn sent back to go on (it ends in a
    server tool's call or result)."""
    if message.get("role") != "assistant":
        return False
    content = blocks(message.get("content"))
    kind = str(content[-1].get("type")) if content else ""
    return not (kind == "server_tool_use" or (kind.endswith("_tool_result") and kind != "tool_result"))


def _tool(found: _Content, tool: dict[str, Any], i: int) -> None:
    if tool.get("defer_loading"):
        raise errors.InvalidRequestError(f"tools.{i}: cache_control cannot be set for tools with `defer_loading: true`")
    _marker(found, tool, f"tools.{i}", "")


def _block(found: _Content, block: dict[str, Any], where: str, tagged: str = "") -> None:
    """One content block at ``where`` (``tagged``: the same with block types, as validation names places)."""
    kind = block.get("type")
    tagged = f"{tagged or where}.{kind}"
    if block.get("cache_control") is not None:
        _marker(found, block, where, f"{where}.text")
    if kind == "image":
        found.images += 1
        source = block.get("source") or {}
        if source.get("type") == "base64":
            data = source.get("data") or ""
            if len(data) > _MAX_IMAGE_BYTES:
                raise errors.InvalidRequestError(
                    f"{tagged}.source.base64: image exceeds 5 MB maximum: {len(data)} bytes > {_MAX_IMAGE_BYTES} bytes"
                )
            found.pictures.append((data, f"{tagged}.source.base64.data"))
    elif kind == "document":
        found.documents += 1
    inner = block.get("content")
    if type(inner) is list:  # a tool result's or a search result's blocks
        for k, item in enumerate(inner):
            if type(item) is dict:
                _block(found, item, f"{where}.content.{k}", f"{tagged}.content.{k}")


def _cacheable(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    if kind == "text":
        return bool((block.get("text") or "").strip())
    return kind not in _NEVER_CACHED


def _marker(found: _Content, block: dict[str, Any], where: str, empty_where: str) -> None:
    if block.get("type") == "text" and not _cacheable(block):
        raise errors.InvalidRequestError(f"{empty_where or where}: {_EMPTY_TEXT}")
    found.markers += 1
    if block["cache_control"].get("ttl", "5m") != "1h":
        found.seen_5m = True
    elif found.seen_5m and found.misordered is None:
        found.misordered = f"{where}.cache_control.ttl"


def _last_cacheable(body: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """Whether there is a block the automatic marker goes on (the last that can carry one:
    messages, then system, then tools, from the end), and that block's own marker."""
    for message in reversed(body["messages"]):
        content = message.get("content")
        if type(content) is not list:
            if content and content.strip():
                return True, None
            continue
        for block in reversed(content):
            if _cacheable(block):
                return True, block.get("cache_control")
    system = body.get("system")
    if type(system) is list:
        for block in reversed(system):
            if _cacheable(block):
                return True, block.get("cache_control")
    elif system:
        return True, None
    for tool in reversed(body.get("tools") or ()):
        if not tool.get("defer_loading"):  # a deferred tool is not sent up front: nothing to cache
            return True, tool.get("cache_control")
    return False, None


def _check_breakpoints(found: _Content, body: dict[str, Any]) -> None:
    if found.markers > _MAX_BREAKPOINTS:
        raise errors.InvalidRequestError(
            f"A maximum of {_MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {found.markers}."
        )
    if found.misordered is not None:
        raise errors.InvalidRequestError(f"{found.misordered}: {_TTL_ORDER}")
    automatic = body.get("cache_control")
    if automatic is None:
        return
    exists, own_marker = _last_cacheable(body)
    if not exists:
        return  # no block to take the automatic marker: nothing is cached
    ttl = automatic.get("ttl") or "5m"
    if own_marker is not None:
        own = own_marker.get("ttl") or "5m"
        if own != ttl:
            raise errors.InvalidRequestError(
                f"cache_control: the top-level cache_control (ttl='{ttl}') goes on the last cacheable block, "
                f"which has a cache_control of its own with ttl='{own}'. Use the same ttl, or remove one of them."
            )
        return  # the same marker: nothing changes
    if found.markers == _MAX_BREAKPOINTS:
        raise errors.InvalidRequestError(
            f"cache_control: the top-level cache_control takes one of the {_MAX_BREAKPOINTS} cache_control "
            f"slots, and {found.markers} blocks already have cache_control. Remove one of them."
        )
    if ttl == "1h" and found.seen_5m:
        raise errors.InvalidRequestError(f"cache_control.ttl: {_TTL_ORDER}")


def _check_media(found: _Content) -> None:
    if found.images + found.documents > _MAX_MEDIA:
        raise errors.InvalidRequestError(
            f"too many images and documents: {found.images} + {found.documents} > {_MAX_MEDIA}"
        )
    if found.images <= _MANY_IMAGES:
        return
    for data, where in found.pictures:
        size = dimensions(data)
        if size is not None and max(size) > _MANY_IMAGES_SIDE:
            raise errors.InvalidRequestError(
                f"{where}: At least one of the image dimensions exceed max allowed size for many-image requests: "
                f"{_MANY_IMAGES_SIDE} pixels"
            )


# -- the context window --------------------------------------------------------------------


def context_window(call: Call, info: ModelInfo) -> int | None:
    return info.context_window(call.betas)


def check_window(call: Call, info: ModelInfo | None, body: dict[str, Any]) -> None:
    """The prompt must fit the model's window; on models that cannot stop at the window's end
    (no ``window_stop``), the prompt and ``max_tokens`` together.

    Counted as count_tokens counts (files not yet read); not checked on count_tokens, which
    is how a client learns whether a prompt fits.
    """
    if not known(info):
        return
    window = context_window(call, info)
    if not window:
        return
    output = 0 if info.has("window_stop") else body["max_tokens"]
    # No JSON byte is more than two tokens: a small body fits without being counted. (So a
    # body small enough to have its checks remembered never depends on the betas sent with it.)
    if call.raw and 2 * len(call.raw) + output <= window:
        return
    tokens = tokenizer.count_request(body)
    if tokens > window:
        raise errors.InvalidRequestError(f"prompt is too long: {tokens} tokens > {window} maximum")
    if tokens + output > window:
        raise errors.InvalidRequestError(
            f"input length and `max_tokens` exceed context limit: {tokens} + {output} > {window}, "
            "decrease input length or `max_tokens` and try again"
        )
