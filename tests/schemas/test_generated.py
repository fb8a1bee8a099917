"""Request-body models generated from the SDK's param types: what they accept, and the
API-style messages for what they reject."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import typing
from pathlib import Path

import pydantic
import pytest

from dateline.schemas import (
    CompletionCreateParams,
    MessageCountTokensParams,
    MessageCreateParams,
    format_validation_error,
)

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src" / "dateline" / "schemas" / "_generated.py"

try:
    import anthropic
except ImportError:  # pragma: no cover - the SDK is a test dependency
    anthropic = None
needs_sdk = pytest.mark.skipif(anthropic is None, reason="the anthropic SDK is not importable")


def accept(model: type[pydantic.BaseModel], body: object) -> pydantic.BaseModel:
    """Validate from a dict and from raw JSON bytes; both must succeed."""
    parsed = model.model_validate(body)
    model.model_validate_json(json.dumps(body).encode())
    return parsed


def reject(model: type[pydantic.BaseModel], body: object) -> str:
    """The API message for an invalid body, checking dict and JSON input agree on it."""
    messages = []
    for validate in (lambda: model.model_validate(body), lambda: model.model_validate_json(json.dumps(body))):
        with pytest.raises(pydantic.ValidationError) as info:
            validate()
        messages.append(format_validation_error(info.value))
    assert messages[0] == messages[1]
    return messages[0]


def request(**overrides: object) -> dict:
    body: dict = {"model": "claude-opus-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hi"}]}
    body.update(overrides)
    return body


def user(*blocks: dict) -> dict:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: dict) -> dict:
    return {"role": "assistant", "content": list(blocks)}


# -- a Claude Code-shaped request ----------------------------------------------------------


def claude_code_tools() -> list[dict]:
    names = ["Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
             "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand",
             "mcp__ide__getDiagnostics", "mcp__ide__executeCode", "AskUserQuestion", "Skill", "ListMcpResources"]
    tools = []
    for i, name in enumerate(names):
        tools.append({
            "name": name,
            "description": f"{name} tool. " * 40,
            "input_schema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command"},
                    "timeout": {"type": "number"},
                    "todos": {"type": "array", "items": {"type": "object", "properties": {"content": {"type": "string"}}}},
                },
                "required": ["command"],
                "additionalProperties": False,
            },
            **({"cache_control": {"type": "ephemeral"}} if i == len(names) - 1 else {}),
        })
    return tools


def claude_code_request(thinking: dict) -> dict:
    return {
        "model": "claude-sonnet-5",
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "Environment: /repo, git, linux." * 50, "cache_control": {"type": "ephemeral"}},
        ],
        "tools": claude_code_tools(),
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>context</system-reminder>"},
                {"type": "text", "text": "Fix the failing test", "cache_control": {"type": "ephemeral"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Let me look at the test.", "signature": "EqQBCkYIBxgCKkD"},
                {"type": "text", "text": "I'll run the tests."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "pytest -q"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "1 failed", "is_error": False},
                {"type": "text", "text": "go on", "cache_control": {"type": "ephemeral"}},
            ]},
            {"role": "system", "content": "The user switched to plan mode.", "clear_at": "next_user_message"},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}]},
            {"role": "user", "content": "continue"},
        ],
        "thinking": thinking,
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "user_0f3a_account_9c1e_session_5d2b"},
    }


@pytest.mark.parametrize("thinking", [{"type": "adaptive"}, {"type": "enabled", "budget_tokens": 31999}])
def test_accepts_claude_code_request(thinking: dict) -> None:
    parsed = accept(MessageCreateParams, claude_code_request(thinking))
    assert parsed.stream is True
    assert len(parsed.tools) == 22
    assert parsed.tools[0].type == "custom"  # a tool without `type` is a custom tool
    assert parsed.tools[0].input_schema.model_extra["additionalProperties"] is False
    assert parsed.thinking.type == thinking["type"]
    assert parsed.messages[3].role == "system"
    assert parsed.system[0].cache_control.ttl == "1h"


def test_count_tokens_accepts_the_same_request_without_create_only_fields() -> None:
    body = claude_code_request({"type": "adaptive"})
    for key in ("stream", "max_tokens", "metadata"):
        body.pop(key)
    accept(MessageCountTokensParams, body)
    assert reject(MessageCountTokensParams, {**body, "stream": True}) == "stream: Extra inputs are not permitted"


# -- every request content block ---------------------------------------------------------

PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}
TEXT = {"type": "text", "text": "hello"}
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
SEARCH_RESULT = {"type": "search_result", "source": "https://example.com", "title": "Example",
                 "content": [TEXT], "citations": {"enabled": True}}
DOCUMENT = {"type": "document", "source": PDF, "title": "spec.pdf", "context": "a spec", "citations": {"enabled": True}}

USER_BLOCKS = {
    "text": TEXT,
    "text_with_citations": {"type": "text", "text": "cited", "citations": [
        {"type": "char_location", "cited_text": "c", "document_index": 0, "document_title": None,
         "start_char_index": 0, "end_char_index": 1},
        {"type": "page_location", "cited_text": "c", "document_index": 0, "document_title": "t",
         "start_page_number": 1, "end_page_number": 2},
        {"type": "search_result_location", "cited_text": "c", "search_result_index": 0, "source": "s",
         "title": None, "start_block_index": 0, "end_block_index": 1},
    ]},
    "image_base64": IMAGE,
    "image_url": {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    "image_file": {"type": "image", "source": {"type": "file", "file_id": "file_011"}},
    "document_base64": DOCUMENT,
    "document_text": {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
    "document_url": {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
    "document_file": {"type": "document", "source": {"type": "file", "file_id": "file_012"}},
    "document_content_str": {"type": "document", "source": {"type": "content", "content": "inline"}},
    "document_content_blocks": {"type": "document", "source": {"type": "content", "content": [TEXT, IMAGE]}},
    "search_result": SEARCH_RESULT,
    "tool_result_string": {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
    "tool_result_blocks": {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [
        TEXT, IMAGE, SEARCH_RESULT, DOCUMENT, {"type": "tool_reference", "tool_name": "Bash"}]},
    "tool_result_empty": {"type": "tool_result", "tool_use_id": "toolu_1"},
    "container_upload": {"type": "container_upload", "file_id": "file_013"},
}

ASSISTANT_BLOCKS = {
    "thinking": {"type": "thinking", "thinking": "hmm", "signature": "sig"},
    "redacted_thinking": {"type": "redacted_thinking", "data": "opaque"},
    "tool_use": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    "server_tool_use": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
    "web_search_tool_result": {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
        {"type": "web_search_result", "url": "https://example.com", "title": "Ex", "encrypted_content": "enc",
         "page_age": "1 day"}]},
    "web_search_tool_result_error": {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                                     "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}},
    "web_fetch_tool_result": {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_2", "content": {
        "type": "web_fetch_result", "url": "https://example.com", "content": DOCUMENT}},
    "code_execution_tool_result": {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_3", "content": {
        "type": "code_execution_result", "stdout": "hi", "stderr": "", "return_code": 0,
        "content": [{"type": "code_execution_output", "file_id": "file_1"}]}},
    "bash_code_execution_tool_result": {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_4",
                                        "content": {"type": "bash_code_execution_result", "stdout": "", "stderr": "",
                                                    "return_code": 0, "content": []}},
    "text_editor_code_execution_tool_result": {
        "type": "text_editor_code_execution_tool_result", "tool_use_id": "srvtoolu_5",
        "content": {"type": "text_editor_code_execution_view_result", "content": "x", "file_type": "text"}},
    "tool_search_tool_result": {"type": "tool_search_tool_result", "tool_use_id": "srvtoolu_6", "content": {
        "type": "tool_search_tool_search_result", "tool_references": [{"type": "tool_reference", "tool_name": "Bash"}]}},
    "mcp_tool_use": {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "echo", "server_name": "srv", "input": {}},
    "mcp_tool_result": {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_1", "content": [TEXT]},
    "compaction": {"type": "compaction", "content": "summary of earlier turns"},
}


@pytest.mark.parametrize("block", list(USER_BLOCKS.values()), ids=list(USER_BLOCKS))
def test_accepts_user_content_block(block: dict) -> None:
    parsed = accept(MessageCreateParams, request(messages=[user(block)]))
    assert parsed.messages[0].content[0].type == block["type"]


@pytest.mark.parametrize("block", list(ASSISTANT_BLOCKS.values()), ids=list(ASSISTANT_BLOCKS))
def test_accepts_assistant_content_block(block: dict) -> None:
    parsed = accept(MessageCreateParams, request(messages=[user(TEXT), assistant(block)]))
    assert parsed.messages[1].content[0].type == block["type"]


@pytest.mark.parametrize("choice", [
    {"type": "auto"}, {"type": "auto", "disable_parallel_tool_use": True}, {"type": "any"},
    {"type": "tool", "name": "Bash"}, {"type": "none"},
])
def test_accepts_tool_choice(choice: dict) -> None:
    assert accept(MessageCreateParams, request(tool_choice=choice)).tool_choice.type == choice["type"]


def test_accepts_server_tools_and_null_optionals() -> None:
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5, "allowed_domains": ["example.com"],
         "user_location": {"type": "approximate", "city": "Paris"}},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "tool_search_tool_regex", "name": "tool_search_tool_regex"},
        {"type": "custom", "name": "x", "input_schema": {"type": "object"}},
        {"type": None, "name": "y", "input_schema": {"type": "object"}, "cache_control": None},
    ]
    parsed = accept(MessageCreateParams, request(tools=tools, metadata=None, system="Be brief.", stop_sequences=["END"]))
    assert [t.type for t in parsed.tools][-2:] == ["custom", "custom"]


def test_accepts_legacy_completion() -> None:
    body = {"model": "claude-2.1", "prompt": "\n\nHuman: Hi\n\nAssistant:", "max_tokens_to_sample": 256,
            "stop_sequences": ["\n\nHuman:"], "temperature": 0.5, "top_p": 0.9, "top_k": 5,
            "metadata": {"user_id": "u"}, "stream": False}
    accept(CompletionCreateParams, body)
    assert reject(CompletionCreateParams, {**body, "messages": []}) == "messages: Extra inputs are not permitted"


# -- error messages ------------------------------------------------------------------------


def test_missing_required_field() -> None:
    body = request()
    del body["max_tokens"]
    assert reject(MessageCreateParams, body) == "max_tokens: Field required"


def test_unknown_top_level_field() -> None:
    assert reject(MessageCreateParams, request(response_format={"type": "json"})) == (
        "response_format: Extra inputs are not permitted"
    )


def test_thinking_block_without_signature() -> None:
    body = request(messages=[user(TEXT), assistant({"type": "thinking", "thinking": "hmm"})])
    assert reject(MessageCreateParams, body) == "messages.1.content.0.thinking.signature: Field required"


def test_wrong_integer_type() -> None:
    assert reject(MessageCreateParams, request(max_tokens="x")) == (
        "max_tokens: Input should be a valid integer, unable to parse string as an integer"
    )


def test_extra_key_in_cache_control() -> None:
    system = [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "scope": "global"}}]
    assert reject(MessageCreateParams, request(system=system)) == (
        "system.0.cache_control.ephemeral.scope: Extra inputs are not permitted"
    )


def test_extra_key_in_tool_use_block() -> None:
    block = {**ASSISTANT_BLOCKS["tool_use"], "text": "stray"}
    body = request(messages=[user(TEXT), assistant(TEXT, block)])
    assert reject(MessageCreateParams, body) == "messages.1.content.1.tool_use.text: Extra inputs are not permitted"


def test_unknown_role() -> None:
    message = reject(MessageCreateParams, request(messages=[{"role": "bogus", "content": "x"}]))
    assert message == "messages.0.role: Input should be 'user', 'assistant' or 'system'"


def test_missing_role() -> None:
    assert reject(MessageCreateParams, request(messages=[{"content": "x"}])) == "messages.0.role: Field required"


def test_unknown_block_type_names_the_expected_tags() -> None:
    message = reject(MessageCreateParams, request(messages=[user({"type": "bogus"})]))
    assert message.startswith("messages.0.content.0: Input tag 'bogus' found using 'type' does not match any of "
                              "the expected tags: 'text', 'image', 'document'")


def test_unknown_tool_type() -> None:
    message = reject(MessageCreateParams, request(tools=[{"type": "bogus", "name": "x"}]))
    assert message.startswith("tools.0: Input tag 'bogus' found using 'type' does not match any of the expected "
                              "tags: 'custom', ")


def test_custom_tool_errors_carry_its_tag() -> None:
    tools = [{"name": 7, "input_schema": {"type": "object"}}]
    assert reject(MessageCreateParams, request(tools=tools)) == "tools.0.custom.name: Input should be a valid string"


def test_tag_of_thinking_config_appears_in_location() -> None:
    assert reject(MessageCreateParams, request(thinking={"type": "enabled"})) == (
        "thinking.enabled.budget_tokens: Field required"
    )


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"messages": "hi"}, "messages: Input should be a valid list"),
    ({"messages": ["hi"]}, "messages.0: Input should be a valid dictionary"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content: Input should be a valid string"),
    ({"system": [{"type": "text"}]}, "system.0.text: Field required"),
    ({"messages": [user({"type": "tool_use", "id": "t", "name": "n", "input": []})]},
     "messages.0.content.0.tool_use.input: Input should be a valid dictionary"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice.tool.name: Field required"),
    ({"speed": "ludicrous"}, "speed: Input should be 'standard' or 'fast'"),
    ({"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns"}}]}},
     "context_management.edits.0.clear_thinking_20251015.keep.thinking_turns.value: Field required"),
])
def test_messages_match_for_dict_and_json_input(overrides: dict, expected: str) -> None:
    assert reject(MessageCreateParams, request(**overrides)) == expected


def test_invalid_json_is_reported_without_location() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        MessageCreateParams.model_validate_json(b'{"model": ')
    assert format_validation_error(info.value).startswith("Invalid JSON")


# -- against the SDK -----------------------------------------------------------------------


def synthesize(t: object, depth: int = 0) -> object:
    """A value of an SDK param type with every key filled in (lists get one element)."""
    import typing_extensions as te

    while typing.get_origin(t) in (te.Required, te.NotRequired, te.Annotated):
        t = typing.get_args(t)[0]
    origin, args = typing.get_origin(t), typing.get_args(t)
    if te.is_typeddict(t):
        hints = typing.get_type_hints(t, include_extras=True)
        keep = hints if depth < 4 else {k: h for k, h in hints.items() if typing.get_origin(h) is te.Required}
        return {k: synthesize(h, depth + 1) for k, h in keep.items()}
    if origin is typing.Union:
        # the first member that is neither None nor a response model the SDK also accepts
        members = [a for a in args if a is not type(None) and not (isinstance(a, type) and issubclass(a, pydantic.BaseModel))]
        return synthesize(members[0], depth)
    if origin is typing.Literal:
        return args[0]
    if origin in (dict, typing.Dict) or t in (dict, object):
        return {}
    if origin is not None:  # Iterable, List, Sequence
        return [synthesize(args[0], depth + 1)] if depth < 4 else []
    return {str: "x", int: 1, float: 1.5, bool: True}[t]


@needs_sdk
def test_accepts_every_content_block_the_sdk_defines() -> None:
    from anthropic.types.beta import BetaContentBlockParam

    members = [m for m in typing.get_args(BetaContentBlockParam) if isinstance(m, type) and not issubclass(m, pydantic.BaseModel)]
    assert len(members) >= 20
    for member in members:
        block = synthesize(member)
        parsed = accept(MessageCreateParams, request(messages=[user(TEXT), assistant(block)]))
        assert parsed.messages[1].content[0].type == block["type"], member.__name__


@needs_sdk
def test_accepts_every_tool_the_sdk_defines() -> None:
    from anthropic.types.beta import BetaToolUnionParam

    tools = [synthesize(member) for member in typing.get_args(BetaToolUnionParam)]
    assert len(accept(MessageCreateParams, request(tools=tools)).tools) == len(tools)


@needs_sdk
def test_accepts_bodies_the_sdk_sends() -> None:
    http = pytest.importorskip("httpx2")  # the SDK's HTTP client package
    sent: list[bytes] = []

    def capture(req):  # noqa: ANN001, ANN202
        sent.append(req.content)
        return http.Response(200, json={"input_tokens": 1})

    client = anthropic.Anthropic(api_key="k", base_url="http://test", max_retries=0,
                                 http_client=http.Client(transport=http.MockTransport(capture)))
    body = claude_code_request({"type": "adaptive"})
    # non-streaming with a small max_tokens, so the SDK does not insist on streaming
    params = {**{k: v for k, v in body.items() if k != "stream"}, "max_tokens": 1024}
    client.beta.messages.count_tokens(**{k: v for k, v in params.items() if k not in ("max_tokens", "metadata")},
                                      betas=["context-management-2025-06-27"])
    client.beta.messages.create(**params, betas=["context-management-2025-06-27"], workspace_id="wrkspc_1")
    MessageCountTokensParams.model_validate_json(sent[0])
    created = MessageCreateParams.model_validate_json(sent[1])
    assert created.model_dump(exclude_none=True)["messages"][0]["role"] == "user"


# -- the generated module ------------------------------------------------------------------


def test_runtime_modules_do_not_import_the_sdk() -> None:
    for path in GENERATED.parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] == "anthropic" for n in names), path.name


def gen_schemas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/gen_schemas.py", *args], cwd=ROOT, capture_output=True, text=True)


@needs_sdk
def test_generator_reproduces_the_committed_module() -> None:
    run = gen_schemas("--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.endswith("matches what the installed SDK gives\n")


@needs_sdk
def test_generator_check_shows_the_diff_of_an_altered_module(tmp_path: Path) -> None:
    altered = tmp_path / "_generated.py"
    altered.write_text(GENERATED.read_text().replace("\n    max_tokens: int\n", "\n    max_tokens: str\n", 1))
    run = gen_schemas("--check", "--out", str(altered))
    assert run.returncode == 1
    assert "-    max_tokens: str\n+    max_tokens: int\n" in run.stdout
    assert "regenerate with: python scripts/gen_schemas.py" in run.stderr
    assert "max_tokens: str" in altered.read_text()  # --check writes nothing
