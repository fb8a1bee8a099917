"""A Messages request as an OpenAI chat.completions request body.

What has no equivalent, and what becomes of it:

- ``system`` (string or text blocks, several joined by a newline) is the first
  ``system`` message; a ``system`` message inside ``messages`` stays in place.
- ``cache_control``, ``thinking``, ``context_management``, ``output_config.effort``
  and betas are not sent. Thinking blocks in the history are dropped (some
  servers refuse ``reasoning_content`` in their input).
- Server tools (web search and fetch, tool search, code execution, …) are
  refused with a 400 naming the tool: an OpenAI server has nothing to run them
  with, and an answer made without them would pass for one made with them.
  Anthropic's client tools (bash, the text editor, …) are not sent.
- A user turn's ``tool_result`` blocks become ``tool`` messages ahead of the
  rest of the turn (OpenAI wants them right after the call); their images,
  which a ``tool`` message cannot carry, go into the user message after them.
  ``is_error`` prefixes the text with ``Error: ``.
- Text-only content is sent as one string (blocks joined by a newline), which
  every server's chat template understands; content with images as parts.
- PDF documents go as ``file`` parts (OpenAI's form; a server without it says
  so in a 400); a document by URL is refused.
- ``output_config.format`` is ``response_format`` of type ``json_schema``, named
  by the schema's ``title`` (``response`` when it has none OpenAI takes), strict.
  A tool's ``strict`` is not sent: OpenAI's strict functions need every property
  required, which Anthropic's strict tools do not.
- ``stop_sequences`` are not sent: the backend stops on them itself, which
  tells which one matched (see ``_openai_reply``).
- ``temperature``, ``top_p`` and ``top_k`` (sent by clients of 2023-06-01; 2026-10-21 has
  none) pass as they are, from beside the head request (``top_k`` is not
  OpenAI's, but llama.cpp and vLLM take it); ``metadata.user_id`` is ``user``.
- Messages are not merged: consecutive turns of one role stay separate, and a
  final assistant message (a prefill) is sent as it is; whether the model
  continues it depends on the server.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from .. import errors
from .._content import block_text, blocks, content_text, system_text
from ._tool_kinds import server_kind, upstream_cannot

Message = dict[str, Any]


def chat_request(request: dict[str, Any], *, stream: bool, beside: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chat.completions body for ``request`` (its ``model`` the client's until a target's replaces it).

    ``beside``: what the client sent that head has no place for (an older
    version's sampling parameters), passed on to an upstream that samples.
    """
    refuse_server_tools(request.get("tools"))
    body: dict[str, Any] = {
        "model": request["model"],
        "messages": chat_messages(request),
        "max_tokens": request["max_tokens"],
    }
    tools = [_function(tool) for tool in request.get("tools") or () if _is_custom(tool)]
    if tools:
        body["tools"] = tools
        body.update(_tool_choice(request.get("tool_choice")))
    response_format = _response_format(request.get("output_config"))
    if response_format is not None:
        body["response_format"] = response_format
    for name in ("temperature", "top_p", "top_k"):
        if beside and beside.get(name) is not None:
            body[name] = beside[name]
    user_id = (request.get("metadata") or {}).get("user_id")
    if user_id:
        body["user"] = user_id
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def refuse_server_tools(tools: list[dict[str, Any]] | None) -> None:
    for i, tool in enumerate(tools or ()):
        if server_kind(tool) is not None:
            raise errors.InvalidRequestError(upstream_cannot(f"tools.{i}.{tool.get('type')}", tool))


def chat_messages(request: dict[str, Any]) -> list[Message]:
    out: list[Message] = []
    system = system_text(request.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    for message in request["messages"]:
        role, content = message["role"], message.get("content")
        if role == "system":
            out.append({"role": "system", "content": content_text(content)})
        elif role == "assistant":
            out.extend(_assistant(blocks(content)))
        else:
            out.extend(_user(blocks(content)))
    return out


def _is_custom(tool: dict[str, Any]) -> bool:
    return tool.get("type") in (None, "custom") and "input_schema" in tool


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool["input_schema"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any] | None) -> dict[str, Any]:
    if not choice:
        return {}
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in _CHOICES:
        out["tool_choice"] = _CHOICES[kind]
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what OpenAI takes as json_schema.name


def _response_format(config: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (config or {}).get("format")
    if not fmt:
        return None
    schema = fmt["schema"]
    title = schema.get("title")
    name = title if isinstance(title, str) and _SCHEMA_NAME.match(title) else "response"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _assistant(content: list[dict[str, Any]]) -> list[Message]:
    texts = [block.get("text") or "" for block in content if block.get("type") == "text"]
    calls = [_tool_call(block) for block in content if block.get("type") == "tool_use"]
    if not calls and not any(texts):
        return []  # an empty prefill, or only thinking
    # "" rather than null next to tool calls: llama-cpp-python refuses null.
    message: Message = {"role": "assistant", "content": "\n".join(texts)}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    return {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}


def _user(content: list[dict[str, Any]]) -> list[Message]:
    out: list[Message] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if block.get("type") == "tool_result":
            out.append(_tool_message(block))
            parts.extend(_part(b) for b in blocks(block.get("content")) if b.get("type") == "image")
        elif (part := _part(block)) is not None:
            parts.append(part)
    if parts:
        out.append({"role": "user", "content": _content(parts)})
    return out


def _tool_message(block: dict[str, Any]) -> Message:
    text = content_text(block.get("content"))
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _url(block.get("source") or {})}}
    if kind == "document":
        return _document(block)
    if kind in ("thinking", "redacted_thinking"):
        return None
    text = block_text(block)
    return {"type": "text", "text": text} if text else None


def _url(source: dict[str, Any]) -> str:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    return source.get("url") or ""


def _document(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        name = f"{block.get('title') or 'document'}.pdf"
        return {"type": "file", "file": {"filename": name, "file_data": _url(source)}}
    if source.get("type") == "url":
        raise errors.InvalidRequestError("document blocks with a `url` source are not supported by this model")
    title, text = block.get("title"), block_text(block)
    return {"type": "text", "text": f"{title}\n\n{text}" if title else text}


def prompt_text(messages: list[Message], tools: list[dict[str, Any]] | None) -> str:
    """A conversation as plain text, for counting its tokens: the tools as chat
    templates show them (JSON with spaces, one a line), each message as its
    role and text, and the assistant's cue."""
    refuse_server_tools(tools)
    lines = [json.dumps(_function(tool)) for tool in tools or () if _is_custom(tool)]
    for message in messages:
        lines.append(f"{message['role']}\n{_message_text(message)}")
    lines.append("assistant\n")
    return "\n".join(lines)


def _message_text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(part["text"] for part in content if part["type"] == "text")
    calls = [f"{c['function']['name']} {c['function']['arguments']}" for c in message.get("tool_calls") or ()]
    return "\n".join(filter(None, [content, *calls]))
