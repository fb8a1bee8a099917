"""The API's rules about server tools, checked where Dateline's own model answers.

A web search or fetch tool's fields (domain lists, ``max_uses``, the user's
location, ``url_sources``), deferred tools and the tool references naming
them, and a paused turn resumed without the tool it was calling. A server tool
the built-in model cannot run is refused when a reply is asked for (counting
tokens still works). An upstream judges its own requests (the ``openai``
backend refuses every server tool itself).
"""

from __future__ import annotations

from typing import Any

from .. import errors
from .._content import blocks
from ..backends import _tool_search
from ..backends._tool_kinds import not_emulated, server_kind
from ..backends._web_domains import check_tool
from ..operation import Call


def check(call: Call, body: dict[str, Any], *, create: bool) -> None:
    """Refuse what the API refuses of ``body``'s server tools, when the built-in model answers it."""
    tools = body.get("tools") or []
    if not tools or call.state.backend.route(body).name != "builtin":
        return
    names = [tool.get("name") for tool in tools]
    searching = False
    for i, tool in enumerate(tools):
        kind = server_kind(tool)
        if kind in ("web_search", "web_fetch"):
            check_tool(tool, f"tools.{i}.{tool['type']}", declared=names)
        elif kind == "not_emulated" and create:
            raise errors.InvalidRequestError(not_emulated(f"tools.{i}.{tool['type']}", tool))
        searching = searching or kind == "tool_search" or tool.get("defer_loading") is True
    if searching:
        _tool_search.check_tools(tools)
        _tool_search.check_references(body["messages"], tools)
    if create:
        _check_unrun_calls(body["messages"], set(names))


def _check_unrun_calls(messages: list[dict[str, Any]], offered: set[Any]) -> None:
    """A call the last assistant turn left unrun goes on in this answer: its tool must be offered."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"), None)
    if last is None:
        return
    if last + 1 < len(messages):  # only a turn that answers the client tool calls beside the unrun ones
        if not any(b.get("type") == "tool_result" for b in blocks(messages[last + 1].get("content"))):
            return
    content = blocks(messages[last].get("content"))
    answered = {b.get("tool_use_id") for b in content if str(b.get("type")).endswith("_tool_result")}
    for j, block in enumerate(content):
        if block.get("type") == "server_tool_use" and block.get("id") not in answered:
            name = block.get("name")
            if name not in offered:
                raise errors.InvalidRequestError(
                    f"messages.{last}.content.{j}: `server_tool_use` block with id `{block.get('id')}` has no "
                    f"result yet, so this turn goes on with it, but no `{name}` tool was provided"
                )
