"""Which server tool a tool definition declares, and which of them Dateline can run.

Server tools run inside the API's turn. The built-in model runs web search,
web fetch and tool search; the others (code execution, the advisor, the MCP
connector) need a sandbox or a server Dateline does not have, and a request
offering one is refused rather than answered as if it were not there. No
OpenAI-compatible upstream runs any of them.
"""

from __future__ import annotations

from typing import Any

from ._tool_search import TOOL_SEARCH_TYPES
from ._web_domains import WEB_FETCH_TYPES, WEB_SEARCH_TYPES

#: Server tools nobody but the API runs, by the start of their ``type``.
NOT_EMULATED = ("code_execution_", "advisor_", "mcp_toolset")


def server_kind(tool: dict[str, Any]) -> str | None:
    """``web_search``, ``web_fetch``, ``tool_search``, ``not_emulated``, or None for a tool
    the client runs (custom tools, and Anthropic's client tools such as bash or the text editor)."""
    kind = tool.get("type")
    if not isinstance(kind, str):
        return None
    if kind in WEB_SEARCH_TYPES:
        return "web_search"
    if kind in WEB_FETCH_TYPES:
        return "web_fetch"
    if kind in TOOL_SEARCH_TYPES:
        return "tool_search"
    if kind.startswith(NOT_EMULATED):
        return "not_emulated"
    return None


def not_emulated(where: str, tool: dict[str, Any]) -> str:
    """The refusal of a server tool the built-in model cannot run (Dateline's wording)."""
    return (
        f"{where}: `{tool.get('type')}` is a server tool Dateline does not emulate (its built-in model runs "
        "web search, web fetch and tool search only); leave the tool out, or send the request to an "
        "Anthropic upstream"
    )


def upstream_cannot(where: str, tool: dict[str, Any]) -> str:
    """The refusal of any server tool on a model an OpenAI-compatible upstream serves (Dateline's wording)."""
    return (
        f"{where}: `{tool.get('type')}` is a server tool, and this model is served by an OpenAI-compatible "
        "upstream, which cannot run it; leave the tool out, or serve the model from an Anthropic upstream "
        "or Dateline's built-in model"
    )
