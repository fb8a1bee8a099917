"""Messages: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The checks here are the API's own rules about a conversation, beyond what the
schema says; the answer itself comes from the backend's event stream.
"""

from __future__ import annotations

import re
from typing import Any

from .. import errors, web_corpus
from .._content import blocks
from ..catalog import ModelInfo
from ..operation import Call, Stream
from . import _model_rules, _output_schema, _server_tool_rules, _structured, files

#: What a body becomes before validation: the deprecated ``output_format`` moved to
#: ``output_config.format`` under its beta, refused without it (``Operation.lift``).
lift = _output_schema.lift_output_format
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_THINKING_DOCS = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)


def check_create(call: Call) -> None:
    """What the edge (and the batch processor) checks of a ``create`` body once it is valid."""
    body = call.body
    info = check_model(call, body["model"], max_tokens=body["max_tokens"], retired=False)
    _model_rules.check_params(call, info, body, create=True)
    _model_rules.check_content(info, body)
    check_request(call, body)
    _structured.check(call, info, body)
    _server_tool_rules.check(call, body, create=True)
    _model_rules.check_window(call, info, body)


def check_count(call: Call) -> None:
    """What the edge checks of a ``count_tokens`` body once it is valid (the same, but for
    ``max_tokens``, sampling and the window: counting is how a client learns whether a prompt fits)."""
    body = call.body
    info = check_model(call, body["model"], retired=False)
    _model_rules.check_params(call, info, body, create=False)
    _model_rules.check_content(info, body)
    check_request(call, body)
    _server_tool_rules.check(call, body, create=False)


async def create(call: Call) -> dict[str, Any] | Stream:
    request = await resolve_files(call, call.body)
    backend = call.backend
    web_corpus.serve(call.state.scripter.script.web)  # what the built-in model's web tools read
    # Prompt caching, emulated for the answers Dateline makes (an upstream reports its own).
    cache = call.state.prompt_cache
    caching = None
    if backend.route(request).emulates_caching:
        caching = await cache.plan(request, api_key=call.api_key, catalog=call.state.catalog, raw=call.raw)
    if request.get("stream"):
        events = backend.messages(request, stream=True)
        return Stream(events if caching is None else cache.events(events, caching))
    message = await backend.message(request)
    return message if caching is None else await cache.message(message, caching)


async def count_tokens(call: Call) -> dict[str, Any]:
    request = await resolve_files(call, call.body)
    return {"input_tokens": await call.backend.count_tokens(request)}


async def resolve_files(call: Call, request: dict[str, Any]) -> dict[str, Any]:
    """``request`` with each ``document`` or ``image`` whose source is an uploaded
    file (``{"type": "file", "file_id"}``) given the file's content, as backends read it.

    Copies only what it changes (``call.body`` may be shared); a request that
    names no file comes back as it is, after one quick synchronous look.
    """
    wanted: dict[tuple[str, str], str] = {}  # (file_id, block type) -> where first named
    sources: dict[tuple[str, str], dict[str, Any]] = {}

    def walk(content: list[dict[str, Any]], i: int, path: tuple[int, ...]) -> list[dict[str, Any]]:
        # Until the sources are read, only notes what is wanted (and builds no strings: this is every request).
        out = content
        for j, block in enumerate(content):
            kind = block.get("type")
            if kind == "document" or kind == "image":
                source = block.get("source")
                if type(source) is not dict or source.get("type") != "file":
                    continue
                key = (source["file_id"], kind)
                if not sources:
                    if key not in wanted:
                        wanted[key] = f"messages.{i}.content." + ".content.".join(map(str, (*path, j))) + ".source"
                    continue
                new = {**block, "source": sources[key]}
            elif kind == "tool_result" and type(block.get("content")) is list:
                inner = walk(block["content"], i, (*path, j))
                if inner is block["content"]:
                    continue
                new = {**block, "content": inner}
            else:
                continue
            if out is content:
                out = list(content)
            out[j] = new
        return out

    messages = request["messages"]
    for i, message in enumerate(messages):
        if type(message.get("content")) is list:
            walk(message["content"], i, ())
    if not wanted:
        return request
    for key, loc in wanted.items():
        sources[key] = await files.content_source(call, *key, loc)
    changed = [
        {**m, "content": walk(m["content"], i, ())} if type(m.get("content")) is list else m
        for i, m in enumerate(messages)
    ]
    return {**request, "messages": changed}


def check_model(call: Call, model: str, *, max_tokens: int | None = None, retired: bool = True) -> ModelInfo | None:
    """The model a request names (None: unknown, and an upstream judges it); 404 for an
    unknown one, and for a retired one unless ``retired`` (the legacy Text Completions,
    whose every model is retired, still answer)."""
    info = call.state.catalog.get(model)
    if info is None:
        if call.state.any_model:
            return None  # an upstream serves every model; it judges the id
        raise errors.NotFoundError(f"model: {model}")
    if not retired and info.lifecycle == "retired":
        raise errors.NotFoundError(f"model: {model}")  # still listed by GET /v1/models
    if max_tokens is not None and info.max_tokens and max_tokens > info.max_tokens:
        raise errors.InvalidRequestError(
            f"max_tokens: {max_tokens} > {info.max_tokens}, which is the maximum allowed number of "
            f"output tokens for {info.id}"
        )
    return info


def check_range(name: str, value: Any, low: float | None = None, high: float | None = None) -> None:
    if value is None:
        return
    if low is not None and value < low:
        raise errors.InvalidRequestError(f"{name}: Input should be greater than or equal to {low}")
    if high is not None and value > high:
        raise errors.InvalidRequestError(f"{name}: Input should be less than or equal to {high}")


def check_request(call: Call, request: dict[str, Any]) -> None:
    """The API's rules on parameters and on the shape of the conversation."""
    max_tokens = request.get("max_tokens")
    check_range("max_tokens", max_tokens, 0)
    thinking = request.get("thinking") or {}
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        check_range("thinking.enabled.budget_tokens", budget, 1024)
        if max_tokens is not None and budget is not None and max_tokens <= budget:
            raise errors.InvalidRequestError(_THINKING_DOCS)
    forced = (request.get("tool_choice") or {}).get("type") in ("any", "tool")
    if forced and thinking.get("type") in ("enabled", "adaptive"):
        raise errors.InvalidRequestError("Thinking may not be enabled when tool_choice forces tool use.")
    _check_tools(request)
    _check_messages(call, request["messages"])


def _check_tools(request: dict[str, Any]) -> None:
    tools = request.get("tools") or []
    names = set()
    for i, tool in enumerate(tools):
        name = tool.get("name")
        if "input_schema" in tool and not _TOOL_NAME.match(name or ""):
            raise errors.InvalidRequestError(
                f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            )
        if name in names:
            raise errors.InvalidRequestError("tools: Tool names must be unique.")
        names.add(name)
    choice = request.get("tool_choice") or {}
    if choice.get("type") in ("any", "tool") and not tools:
        raise errors.InvalidRequestError("tool_choice: tool_choice may only be specified while providing tools")
    if choice.get("type") == "tool" and choice.get("name") not in names:
        raise errors.InvalidRequestError(f"tool_choice: Tool '{choice.get('name')}' not found in tools")


def _check_messages(call: Call, messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise errors.InvalidRequestError("messages: List should have at least 1 item after validation, not 0")
    signer = call.state.signer
    last = len(messages) - 1
    # Consecutive messages of one role form one turn (system messages stand
    # outside turns): each assistant turn's tool calls must all be answered by
    # the user turn right after it, and that turn may answer nothing else.
    turn = None
    calls: dict[str, int] = {}  # tool_use id -> index of the message that asked for it
    awaited: dict[str, int] = {}  # the calls the current user turn must answer
    answered: set[str] = set()
    for i, message in enumerate(messages):
        role = message["role"]
        content = blocks(message.get("content"))
        final_assistant = i == last and role == "assistant"
        if not content and not final_assistant:
            raise errors.InvalidRequestError(
                f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )
        if role == "system":
            continue
        if role != turn:
            if role == "user":
                awaited, calls, answered = calls, {}, set()
            else:
                _missing_results(awaited, answered)
                awaited = {}
            turn = role
        if role == "user":
            _check_results(i, content, awaited, answered)
        for j, block in enumerate(content):
            kind = block.get("type")
            if kind == "text":
                text = block.get("text", "")
                if not text:
                    raise errors.InvalidRequestError("messages: text content blocks must be non-empty")
                if not text.strip() and not final_assistant:
                    raise errors.InvalidRequestError("messages: text content blocks must contain non-whitespace text")
            elif kind == "thinking" and role == "assistant":
                if not signer.verify(block.get("thinking", ""), block.get("signature", "")):
                    raise errors.InvalidRequestError(
                        f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    )
            elif kind == "tool_use" and role == "assistant":
                calls[block["id"]] = i
        if final_assistant and content and content[-1].get("type") == "text":
            if content[-1].get("text", "") != content[-1].get("text", "").rstrip():
                raise errors.InvalidRequestError(
                    "messages: final assistant content cannot end with trailing whitespace"
                )
    _missing_results(awaited, answered)
    _missing_results(calls, set())


def _check_results(i: int, content: list[dict[str, Any]], awaited: dict[str, int], answered: set[str]) -> None:
    """A user turn may only answer the tool calls of the assistant turn before it."""
    for j, block in enumerate(content):
        if block.get("type") == "tool_result":
            tool_use_id = block.get("tool_use_id")
            if tool_use_id not in awaited:
                raise errors.InvalidRequestError(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                )
            answered.add(tool_use_id)


def _missing_results(awaited: dict[str, int], answered: set[str]) -> None:
    missing = {k: v for k, v in awaited.items() if k not in answered}
    if not missing:
        return
    index = min(missing.values())
    raise errors.InvalidRequestError(
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )
