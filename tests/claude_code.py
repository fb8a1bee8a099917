"""Tool definitions as Claude Code sends them, shared by the tests."""

from __future__ import annotations

from typing import Any

DRAFT7 = "http://json-schema.org/draft-07/schema#"

# Tool definitions as a coding agent sends them (draft-07, additionalProperties false).
BASH = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The command to execute"},
        "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
        "description": {"type": "string", "description": "Clear, concise description of what this command does"},
        "run_in_background": {"type": "boolean", "description": "Set to true to run this command in the background."},
    },
    "required": ["command"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
READ = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "The absolute path to the file to read"},
        "offset": {"type": "number", "description": "The line number to start reading from"},
        "limit": {"type": "number", "description": "The number of lines to read"},
    },
    "required": ["file_path"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
EDIT = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
        "old_string": {"type": "string", "description": "The text to replace"},
        "new_string": {"type": "string", "description": "The text to replace it with"},
        "replace_all": {"type": "boolean", "default": False, "description": "Replace all occurences"},
    },
    "required": ["file_path", "old_string", "new_string"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
GLOB = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "The glob pattern to match files against"},
        "path": {"type": "string", "description": "The directory to search in."},
    },
    "required": ["pattern"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
GREP = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "The regular expression pattern to search for"},
        "path": {"type": "string", "description": "File or directory to search in"},
        "glob": {"type": "string", "description": 'Glob pattern to filter files (e.g. "*.js")'},
        "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
        "-B": {"type": "number"},
        "-A": {"type": "number"},
        "-C": {"type": "number"},
        "-n": {"type": "boolean"},
        "-i": {"type": "boolean"},
        "type": {"type": "string", "description": "File type to search (rg --type)"},
        "head_limit": {"type": "number"},
        "multiline": {"type": "boolean"},
    },
    "required": ["pattern"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
TODO_WRITE = {
    "type": "object",
    "properties": {
        "todos": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "content": {"type": "string", "minLength": 1},
                    "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                    "activeForm": {"type": "string", "minLength": 1},
                },
                "required": ["content", "status", "activeForm"],
                "additionalProperties": False,
            },
            "description": "The updated todo list",
        }
    },
    "required": ["todos"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
WEB_FETCH = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri", "description": "The URL to fetch content from"},
        "prompt": {"type": "string", "description": "The prompt to run on the fetched content"},
    },
    "required": ["url", "prompt"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
WEB_SEARCH = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 2},
        "allowed_domains": {"type": "array", "items": {"type": "string"}},
        "blocked_domains": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["query"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
TASK = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "description": "A short (3-5 word) description of the task"},
        "prompt": {"type": "string", "description": "The task for the agent to perform"},
        "subagent_type": {"type": "string", "description": "The type of specialized agent to use"},
    },
    "required": ["description", "prompt", "subagent_type"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
NOTEBOOK_EDIT = {
    "type": "object",
    "properties": {
        "notebook_path": {"type": "string"},
        "cell_id": {"type": "string"},
        "new_source": {"type": "string"},
        "cell_type": {"type": "string", "enum": ["code", "markdown"]},
        "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]},
    },
    "required": ["notebook_path", "new_source"],
    "additionalProperties": False,
    "$schema": DRAFT7,
}
CODING_TOOLS = {
    "Bash": BASH, "Read": READ, "Edit": EDIT, "Glob": GLOB, "Grep": GREP, "TodoWrite": TODO_WRITE,
    "WebFetch": WEB_FETCH, "WebSearch": WEB_SEARCH, "Task": TASK, "NotebookEdit": NOTEBOOK_EDIT,
}

#: The tools of one Claude Code request, in its order.
TOOL_NAMES = [
    "Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write", "NotebookEdit",
    "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "Skill", "SlashCommand",
    "AskUserQuestion", "EnterPlanMode", "ListMcpResourcesTool", "ReadMcpResourceTool", "LSP",
    "mcp__ide__getDiagnostics", "mcp__ide__executeCode",
]


def tool_schema(name: str) -> dict[str, Any]:
    """The input_schema of a Claude Code tool (a generic file tool for those not written out)."""
    if name in CODING_TOOLS:
        return CODING_TOOLS[name]
    return {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file"},
            "pattern": {"type": "string"},
            "limit": {"type": "number"},
        },
        "required": ["file_path"] if name in ("Write", "MultiEdit") else [],
        "additionalProperties": False,
        "$schema": DRAFT7,
    }
