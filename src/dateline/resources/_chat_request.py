"""An OpenAI Chat Completions request as a head Messages request: the compatibility
layer's rules of what it keeps, hoists, clamps, ignores and refuses.

``to_head`` is the ``lift`` of the chat operation: it runs before validation, so
every check after it (the schema, the API's conversation rules, the model's own)
is the Messages endpoint's. Fields the layer ignores are dropped here; so is any
field OpenAI's API does not have (``thinking`` excepted, sent through ``extra_body``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .. import errors
from ..catalog import LONG_CONTEXT_BETA, Catalog
from ..exchange import exchange
from ..tokenizer import count_request

#: ``max_tokens`` when a request sets none and its model is not in the catalog (Dateline's choice).
DEFAULT_MAX_TOKENS = 4096
#: A model's largest ``max_tokens``, its window, its window with the 1M beta (or None), and
#: whether it stops at its window's end (``window_stop``).
Limit = tuple[int, int | None, int | None, bool]
_ROLES = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"
_PART_TYPES = "'text', 'image_url', 'input_audio', and 'file'"
#: Parts the layer strips without a word (audio, files; an assistant's refusal).
_STRIPPED = frozenset({"input_audio", "file", "refusal"})
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


class ChatRequestError(errors.InvalidRequestError):
    """A 400 about the OpenAI request itself, naming the parameter as OpenAI's API does."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def to_head(limits: Mapping[str, Limit], body: dict[str, Any], betas: list[str]) -> dict[str, Any]:
    """The head Messages body for OpenAI ``body``; ``limits``: each model's, by every name it has."""
    n = body.get("n")
    if n is not None and (type(n) is not int or n != 1):
        raise ChatRequestError("Invalid 'n': only n=1 is supported.", "n")
    if "messages" not in body:
        raise ChatRequestError("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    system, messages = _messages(body["messages"])
    head: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if system:
        head["system"] = system
    _sampling(body)
    for name in ("stream", "thinking"):
        if body.get(name) is not None:
            head[name] = body[name]
    stop = _stop(body.get("stop"))
    if stop:
        head["stop_sequences"] = stop
    tools = _tools(body)
    if tools:
        head["tools"] = tools
    choice = _tool_choice(body, bool(tools))
    if choice is not None:
        head["tool_choice"] = choice
    head["max_tokens"] = _max_tokens(limits, body, head, betas)
    return head


def model_limits(catalog: Catalog) -> dict[str, Limit]:
    """What ``to_head`` needs of the catalog to choose a ``max_tokens``, by every model name."""
    return {
        name: (
            info.max_tokens,
            info.max_input_tokens,
            info.context_window([LONG_CONTEXT_BETA]),
            info.has("window_stop"),
        )
        for info in catalog
        if info.max_tokens
        for name in info.names
    }


def _sampling(body: dict[str, Any]) -> None:
    """``temperature`` (capped at 1, as documented) and ``top_p``: head has no place for them,
    so they travel beside the request, as an older client's do (an upstream that samples gets them)."""
    beside = exchange().beside
    for name, high in (("temperature", None), ("top_p", 1)):
        value = body.get(name)
        if value is None:
            continue
        if type(value) not in (int, float):
            raise _type_error(name, "a number", value)
        if value < 0 or high is not None and value > high:
            bound = "below minimum" if value < 0 else "above maximum"
            expected = ">= 0" if value < 0 else f"<= {high}"
            raise ChatRequestError(
                f"Invalid '{name}': decimal {bound} value. Expected a value {expected}, but got {value} instead.", name
            )
        beside[name] = min(value, 1)


def include_usage(body: Any) -> bool:
    """Whether a stream ends with a usage chunk (``stream_options.include_usage``)."""
    options = body.get("stream_options") if type(body) is dict else None
    return type(options) is dict and options.get("include_usage") is True


def _max_tokens(limits: Mapping[str, Limit], body: dict[str, Any], head: dict[str, Any], betas: list[str]) -> Any:
    # The newer name wins when both are sent, as it does on OpenAI's API.
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            return body[name]
    # None sent: as much as the model gives, as OpenAI's API leaves it (Dateline's choice).
    model = head["model"]
    found = limits.get(model) if type(model) is str else None
    if found is None:
        return DEFAULT_MAX_TOKENS
    most, window, long_window, stops_at_window = found
    if LONG_CONTEXT_BETA in betas and long_window:
        window = long_window
    if stops_at_window or not window:
        return most
    # A model that cannot stop at its window's end is held to what the prompt leaves; no
    # JSON byte is more than two tokens, so a small prompt is not counted.
    if 2 * len(orjson.dumps(head)) + most <= window:
        return most
    room = window - count_request({**head, "max_tokens": most})
    return min(most, room) if room > 0 else most  # no room at all: the native refusal says so


def _stop(stop: Any) -> Any:
    if stop is None:
        return None
    sequences = [stop] if type(stop) is str else stop
    if type(sequences) is not list:
        return sequences  # the schema says what is wrong with it
    # Whitespace-only sequences do not work on the layer: dropped.
    return [s for s in sequences if type(s) is not str or s.strip()]


def _messages(messages: Any) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt (every system and developer message, joined with newlines) and the
    conversation, consecutive messages of one role merged into one turn."""
    if type(messages) is not list:
        raise _type_error("messages", "an array", messages)
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    last_call = None  # the id given to the latest legacy function_call, for the function message after it
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if type(message) is not dict:
            raise _type_error(where, "an object", message)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(_text(content, where))
            continue
        if role == "user":
            _append(turns, "user", _user_content(content, where))
        elif role == "assistant":
            blocks, called = _assistant_content(message, i, where)
            last_call = called or last_call
            _append(turns, "assistant", blocks)
        elif role == "tool":
            result = {"type": "tool_result", "tool_use_id": message.get("tool_call_id"), "content": _result(content)}
            _append(turns, "user", [result])
        elif role == "function":
            _append(turns, "user", [{"type": "tool_result", "tool_use_id": last_call, "content": _result(content)}])
        elif role is None:
            raise ChatRequestError(
                f"Missing required parameter: '{where}.role'.", f"{where}.role", "missing_required_parameter"
            )
        else:
            raise ChatRequestError(f"Invalid value: {_shown(role)}. Supported values are: {_ROLES}.", f"{where}.role")
    return "\n".join(system), turns


def _append(turns: list[dict[str, Any]], role: str, content: Any) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] = _as_blocks(turns[-1]["content"]) + _as_blocks(content)
    else:
        turns.append({"role": role, "content": content})


def _as_blocks(content: Any) -> list[Any]:
    if type(content) is str:
        return [{"type": "text", "text": content}]
    return list(content) if type(content) is list else [content]


def _text(content: Any, where: str) -> str:
    """A system or developer message's text; its parts joined with newlines."""
    if content is None or type(content) is str:
        return content or ""
    if type(content) is not list:
        raise _type_error(f"{where}.content", "a string or an array", content)
    texts = []
    for j, part in enumerate(content):
        if type(part) is not dict or part.get("type") != "text" or type(part.get("text")) is not str:
            raise ChatRequestError(
                "Invalid content: only text parts are supported in this message.", f"{where}.content[{j}]"
            )
        texts.append(part["text"])
    return "\n".join(texts)


def _user_content(content: Any, where: str) -> Any:
    if type(content) is not list:
        return content  # a string, or something the schema refuses
    out = []
    for j, part in enumerate(content):
        kind = part.get("type") if type(part) is dict else None
        if kind == "text":
            out.append({"type": "text", "text": part.get("text")})
        elif kind == "image_url":
            out.append(_image(part.get("image_url"), f"{where}.content[{j}].image_url"))
        elif kind not in _STRIPPED or kind == "refusal":
            raise ChatRequestError(
                f"Invalid value: {_shown(kind)}. Supported values are: {_PART_TYPES}.", f"{where}.content[{j}].type"
            )
    return out


def _image(image: Any, where: str) -> dict[str, Any]:
    """An ``image_url`` part (``detail`` ignored): a data URL's bytes, or the URL itself."""
    url = image.get("url") if type(image) is dict else None
    if type(url) is not str:
        raise ChatRequestError("Missing required parameter: 'url'.", f"{where}.url", "missing_required_parameter")
    if not url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    head, comma, data = url[len("data:") :].partition(",")
    media_type, _, encoding = head.partition(";")
    if not comma or encoding != "base64":
        raise ChatRequestError(
            "Invalid image URL: a data URL must have the form 'data:<media type>;base64,<data>'.", f"{where}.url"
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_content(message: dict[str, Any], i: int, where: str) -> tuple[Any, str | None]:
    """An assistant message's blocks (text, then its calls), and the id of its legacy
    ``function_call``, if it made one."""
    content = message.get("content")
    if type(content) is str and content and not message.get("tool_calls") and not message.get("function_call"):
        return content, None  # as it came: the string shorthand is the native request's too
    if content is None or content == "":
        blocks: list[Any] = []
    elif type(content) is str:
        blocks = [{"type": "text", "text": content}]
    elif type(content) is list:
        blocks = []
        for j, part in enumerate(content):
            kind = part.get("type") if type(part) is dict else None
            if kind == "text":
                blocks.append({"type": "text", "text": part.get("text")})
            elif kind != "refusal":  # a refusal part is ignored
                raise ChatRequestError(
                    f"Invalid value: {_shown(kind)}. Supported values are: 'text' and 'refusal'.",
                    f"{where}.content[{j}].type",
                )
    else:
        raise _type_error(f"{where}.content", "a string or an array", content)
    calls = message.get("tool_calls") or []
    if type(calls) is not list:
        raise _type_error(f"{where}.tool_calls", "an array", calls)
    for j, call in enumerate(calls):
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict:
            raise ChatRequestError(
                "Missing required parameter: 'function'.",
                f"{where}.tool_calls[{j}].function",
                "missing_required_parameter",
            )
        arguments = _arguments(function.get("arguments"), f"{where}.tool_calls[{j}].function.arguments")
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
    called = None
    legacy = message.get("function_call")
    if type(legacy) is dict:
        # A legacy call has no id: the function message after it answers it by this one (Dateline's).
        called = f"call_function_{i}"
        arguments = _arguments(legacy.get("arguments"), f"{where}.function_call.arguments")
        blocks.append({"type": "tool_use", "id": called, "name": legacy.get("name"), "input": arguments})
    return blocks, called


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    """A call's JSON-string arguments as the object they encode."""
    if arguments is None or arguments == "":
        return {}
    if type(arguments) is not str:
        raise _type_error(where, "a string", arguments)
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if type(value) is not dict:
        raise ChatRequestError("Invalid 'arguments': expected a JSON object in a string.", where)
    return value


def _result(content: Any) -> Any:
    """A tool or function message's content, as a tool result's: a string, or text blocks."""
    if type(content) is not list:
        return "" if content is None else content
    return [{"type": "text", "text": p.get("text")} for p in content if type(p) is dict and p.get("type") == "text"]


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``tools`` and the legacy ``functions`` as head tools (``strict`` ignored)."""
    tools = body.get("tools") or []
    if type(tools) is not list:
        raise _type_error("tools", "an array", tools)
    functions = []
    for i, tool in enumerate(tools):
        if type(tool) is not dict:
            raise _type_error(f"tools[{i}]", "an object", tool)
        if tool.get("type") != "function":
            raise ChatRequestError(
                f"Invalid value: {_shown(tool.get('type'))}. Supported values are: 'function'.", f"tools[{i}].type"
            )
        function = tool.get("function")
        if type(function) is not dict:
            raise ChatRequestError(
                "Missing required parameter: 'function'.", f"tools[{i}].function", "missing_required_parameter"
            )
        functions.append(function)
    legacy = body.get("functions") or []
    if type(legacy) is not list:
        raise _type_error("functions", "an array", legacy)
    for i, function in enumerate(legacy):
        if type(function) is not dict:
            raise _type_error(f"functions[{i}]", "an object", function)
        functions.append(function)
    out = []
    for function in functions:
        tool = {"name": function.get("name"), "input_schema": function.get("parameters") or _EMPTY_SCHEMA}
        if function.get("description") is not None:
            tool["description"] = function["description"]
        out.append(tool)
    return out


def _tool_choice(body: dict[str, Any], has_tools: bool) -> dict[str, Any] | None:
    """``tool_choice`` (or the legacy ``function_call``) as head's; ``parallel_tool_calls: false``
    as ``disable_parallel_tool_use``."""
    name = "tool_choice" if body.get("tool_choice") is not None else "function_call"
    choice = body.get(name)
    if choice is None:
        head = {"type": "auto"} if has_tools and body.get("parallel_tool_calls") is False else None
    elif choice in ("auto", "none"):
        if not has_tools:
            return None  # nothing to choose from: nothing to say
        head = {"type": choice}
    elif choice == "required" and name == "tool_choice":
        head = {"type": "any"}
    elif type(choice) is dict:
        function = choice.get("function") if name == "tool_choice" else choice
        if name == "tool_choice" and choice.get("type") != "function" or type(function) is not dict:
            raise ChatRequestError(
                f"Invalid value: {_shown(choice.get('type'))}. Supported values are: 'function'.", f"{name}.type"
            )
        head = {"type": "tool", "name": function.get("name")}
    else:
        supported = "'none', 'auto', and 'required'" if name == "tool_choice" else "'none' and 'auto'"
        raise ChatRequestError(f"Invalid value: {_shown(choice)}. Supported values are: {supported}.", name)
    if head is not None and head["type"] != "none" and body.get("parallel_tool_calls") is False:
        head["disable_parallel_tool_use"] = True
    return head


def _type_error(where: str, expected: str, value: Any) -> ChatRequestError:
    return ChatRequestError(
        f"Invalid type for '{where}': expected {expected}, but got {_kind(value)} instead.", where, "invalid_type"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) in (int, float):
        return "a number"
    if type(value) is str:
        return "a string"
    return "an array" if type(value) is list else "an object"


def _shown(value: Any) -> str:
    return f"'{value}'" if type(value) is str else orjson.dumps(value).decode()
