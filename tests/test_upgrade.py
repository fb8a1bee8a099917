"""``dateline check-upgrade``: a 2023-06-01 client's recorded traffic, read from a
real server's request log, a cassette or a JSONL file, validated under
2026-10-21; what would be refused is reported with the API's own messages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread, free_port
from typer.testing import CliRunner

from dateline.cli import app
from dateline.upgrade import cause_of

MODEL = "claude-sonnet-4-5"
OLD = {"anthropic-version": "2023-06-01"}

TEMPERATURE = "temperature: Extra inputs are not permitted"
DOCUMENT = "messages.1.content.0: `document` blocks are not allowed in `assistant` messages; send documents in a `user` message"
CITATIONS = (
    "messages.0.content.0.citations: citations are not allowed on `text` blocks in `user` messages; "
    "only the model's own `assistant` text carries citations"
)

DOC = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": "Tide pools fill at high tide."},
}
CITATION = {
    "type": "char_location",
    "cited_text": "Tide pools",
    "document_index": 0,
    "document_title": None,
    "start_char_index": 0,
    "end_char_index": 10,
}
#: A user message quoting with citations, as only the model's own text may from 2026-10-21 on.
USER_CITED = [{"role": "user", "content": [{"type": "text", "text": "As cited.", "citations": [CITATION]}]}]


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}], **extra}


def with_assistant(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "What fills tide pools?"},
        {"role": "assistant", "content": content},
        {"role": "user", "content": "Tell me more."},
    ]


def check_upgrade(*args: str, env: dict[str, str] | None = None):
    """Run ``dateline check-upgrade ARGS`` in-process, with stdout and stderr apart."""
    result = CliRunner().invoke(app, ["check-upgrade", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def sdk(served: ServerThread) -> Iterator[anthropic.Anthropic]:
    """Today's SDK, pinned to 2023-06-01 as an app that has not upgraded yet pins it."""
    with anthropic.Anthropic(
        base_url=served.base_url, api_key="sk-ant-test", max_retries=0, default_headers=OLD
    ) as client:
        yield client


@pytest.fixture
def raw(served: ServerThread) -> Iterator[httpx.Client]:
    headers = {"x-api-key": "sk-ant-test", **OLD}
    with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as client:
        yield client


def sent(response: httpx.Response, status: int = 200) -> str:
    """The request id of an answer that had ``status``."""
    assert response.status_code == status, response.text
    return response.headers["request-id"]


def clean_traffic(sdk: anthropic.Anthropic, raw: httpx.Client) -> list[str]:
    """Requests 2026-10-21 accepts as they are; their request ids."""
    messages = sdk.messages.with_raw_response
    uncited = {"type": "text", "text": "Sum up.", "citations": []}
    return [
        sent(messages.create(**ask("Tell me about kelp")).http_response),
        sent(messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Count me"}]).http_response),
        # Citations on the model's own text sent back, and an empty array on user text: still accepted.
        sent(
            raw.post(
                "/v1/messages",
                json=ask("", messages=with_assistant([{"type": "text", "text": "Water.", "citations": [CITATION]}])),
            )
        ),
        sent(raw.post("/v1/messages", json=ask("", messages=[{"role": "user", "content": [DOC, uncited]}]))),
        sent(raw.post("/v1/messages", json=ask("Stream it", stream=True))),
    ]


@pytest.fixture
def logged(admin: httpx.Client, sdk: anthropic.Anthropic, raw: httpx.Client) -> dict[str, Any]:
    """A 2023-06-01 client's traffic in ``served``'s request log: three requests 2026-10-21
    refuses, clean ones, and two its own version already refused."""
    messages = sdk.messages.with_raw_response
    breaking = {
        "temperature": sent(messages.create(**ask("Be creative"), extra_body={"temperature": 0.7}).http_response),
        "document": sent(raw.post("/v1/messages", json=ask("", messages=with_assistant([DOC])))),
        "citations": sent(messages.create(**ask("", messages=USER_CITED)).http_response),
    }
    clean = clean_traffic(sdk, raw)
    refused = [
        sent(raw.post("/v1/messages", json=ask("Too hot", temperature=5)), 400),
        sent(raw.post("/v1/messages", json={"model": MODEL, "messages": []}), 400),
    ]
    return {"breaking": breaking, "clean": clean, "refused": refused}


def test_a_2023_06_01_client_s_breaking_requests_are_reported_by_cause(served: ServerThread, logged):
    result = check_upgrade("--to", "2026-10-21", "--url", served.base_url)

    assert result.exit_code == 1, result.stderr
    out = result.stdout
    assert out.startswith("8 requests checked under 2026-10-21: 3 would be refused (2 skipped, already refused")
    for message in (TEMPERATURE, DOCUMENT, CITATIONS):
        assert message in out
        assert f"1 × {cause_of(message)}" in out
    for request_id in logged["breaking"].values():
        assert request_id in out
    for request_id in logged["clean"] + logged["refused"]:
        assert request_id not in out


def test_json_lists_every_failing_request_and_its_error(served: ServerThread, logged):
    result = check_upgrade("--url", served.base_url, "--json")  # --to: the newest version

    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    breaking = logged["breaking"]
    assert {k: report[k] for k in ("target", "checked", "skipped", "other", "failing")} == {
        "target": "2026-10-21",
        "checked": 8,
        "skipped": 2,
        "other": 0,
        "failing": 3,
    }
    assert report["failures"] == [
        {
            "request": breaking[name],
            "path": "/v1/messages",
            "version": "2023-06-01",
            "message": message,
            "cause": cause_of(message),
        }
        for name, message in (("temperature", TEMPERATURE), ("document", DOCUMENT), ("citations", CITATIONS))
    ]
    assert [(c["cause"], c["count"], c["message"], c["requests"]) for c in report["causes"]] == [
        (f["cause"], 1, f["message"], [f["request"]]) for f in report["failures"]
    ]


def test_at_a_terminal_the_causes_are_a_table(served: ServerThread, logged):
    result = check_upgrade("--url", served.base_url, env={"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "400"})

    assert result.exit_code == 1
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # bold headers, even without colour
    header = next(line for line in out.splitlines() if "cause" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "cause",
        "count",
        "requests",
        "message (first request)",
    ]
    for message in (TEMPERATURE, DOCUMENT, CITATIONS):
        assert message in out


def test_a_log_of_clean_requests_passes(served: ServerThread, admin, sdk, raw):
    clean_traffic(sdk, raw)
    sent(raw.post("/v1/messages", json=ask("Too hot", temperature=5)), 400)

    result = check_upgrade("--to", "2026-10-21", "--url", served.base_url)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.strip() == (
        "5 requests checked under 2026-10-21: none would be refused "
        "(1 skipped, already refused under their own version)."
    )


def test_an_admin_token_guards_the_log():
    with ServerThread(admin_token="s3cret") as server:
        httpx.post(f"{server.base_url}/v1/messages", json=ask("Hi", top_k=3), headers={"x-api-key": "k", **OLD})

        refused = check_upgrade("--url", server.base_url, "--admin-token", "wrong")
        found = check_upgrade("--url", server.base_url, "--admin-token", "s3cret", "--json")

    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "admin token" in refused.stderr
    assert found.exit_code == 1
    assert [f["message"] for f in json.loads(found.stdout)["failures"]] == ["top_k: Extra inputs are not permitted"]


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_a_jsonl_file_of_bodies(tmp_path: Path):
    lines = [
        ask("A bare body, clean"),
        ask("A bare body", top_p=0.9),
        {"path": "/v1/messages/count_tokens", "body": {"model": MODEL, "messages": with_assistant([DOC])}},
        "",
        {
            "path": "/v1/messages",
            "body": {
                "model": MODEL,
                "max_tokens": 16,
                "messages": [
                    *with_assistant([{"type": "text", "text": "Water."}]),
                    {"role": "assistant", "content": [DOC]},
                ],
            },
        },
        {"custom_id": "kelp-1", "params": ask("A batch request", temperature=1.0)},
        {
            "path": "/v1/messages/batches",
            "body": {
                "requests": [
                    {"custom_id": "ok", "params": ask("Fine")},
                    {"custom_id": "hot", "params": ask("Hot", temperature=0.2)},
                ]
            },
        },
        ask("Refused under 2023-06-01 already", temperature=2),
        {"path": "/v1/messages", "body": ask("Got a 400 when sent", top_k=1), "status": 400},
        {"path": "/v1/models", "body": None},
        # A rate limit says nothing of the request: it goes out again after the upgrade.
        {"path": "/v1/messages", "body": ask("Rate limited when sent", top_k=1), "status": 429},
    ]
    path = write_lines(tmp_path / "requests.jsonl", lines)

    result = check_upgrade("--to", "2026-10-21", "--requests", str(path), "--json")

    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["checked"], report["skipped"], report["other"]) == (8, 2, 1)
    document = "`document` blocks are not allowed in `assistant` messages; send documents in a `user` message"
    assert [(f["request"], f["path"], f["version"], f["message"]) for f in report["failures"]] == [
        ("line 2", "/v1/messages", "2023-06-01", "top_p: Extra inputs are not permitted"),
        ("line 3", "/v1/messages/count_tokens", "2023-06-01", f"messages.1.content.0: {document}"),
        ("line 5", "/v1/messages", "2023-06-01", f"messages.3.content.0: {document}"),
        ("line 6, custom_id kelp-1", "/v1/messages/batches", "2023-06-01", TEMPERATURE),
        ("line 7, custom_id hot", "/v1/messages/batches", "2023-06-01", TEMPERATURE),
        ("line 11", "/v1/messages", "2023-06-01", "top_k: Extra inputs are not permitted"),
    ]
    # Indices aside, the two documents are one cause; the commonest causes come first, ties as first seen.
    assert [(c["cause"], c["count"], c["requests"]) for c in report["causes"]] == [
        (f"messages.N.content.N: {document}", 2, ["line 3", "line 5"]),
        (TEMPERATURE, 2, ["line 6, custom_id kelp-1", "line 7, custom_id hot"]),
        ("top_p: Extra inputs are not permitted", 1, ["line 2"]),
        ("top_k: Extra inputs are not permitted", 1, ["line 11"]),
    ]

    # Under the version they were written for, nothing breaks.
    assert check_upgrade("--to", "2023-06-01", "--requests", str(path)).exit_code == 0


def test_a_cassette_recorded_in_front_of_an_upstream(tmp_path: Path):
    cassette = tmp_path / "upstream.jsonl"
    with ServerThread() as upstream, ServerThread(anthropic_upstream=upstream.base_url, record=cassette) as front:
        with httpx.Client(base_url=front.base_url, headers={"x-api-key": "k", **OLD}, timeout=30) as client:
            sent(client.post("/v1/messages", json=ask("Clean")))
            sent(client.post("/v1/messages", json=ask("", messages=with_assistant([DOC]))))
            sent(client.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": USER_CITED}))
            upstream.fail("invalid_request_error", match={"endpoint": "messages"})
            sent(client.post("/v1/messages", json=ask("", messages=with_assistant([DOC, DOC]))), 400)
            sent(client.get("/v1/models"))  # answered by the front itself: not in the cassette

    result = check_upgrade("--to", "2026-10-21", "--cassette", str(cassette), "--json")

    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["checked"], report["skipped"], report["other"]) == (3, 1, 0)
    assert [(f["request"], f["path"], f["version"], f["message"]) for f in report["failures"]] == [
        ("line 2", "/v1/messages", "2023-06-01", DOCUMENT),
        ("line 3", "/v1/messages/count_tokens", "2023-06-01", CITATIONS),
    ]


@pytest.mark.parametrize(
    "args, error",
    [
        (["--requests", "{tmp}/missing.jsonl"], "cannot read {tmp}/missing.jsonl"),
        (["--requests", "{tmp}/broken.jsonl"], "{tmp}/broken.jsonl, line 2: not valid JSON"),
        (["--requests", "{tmp}/empty.jsonl"], "no requests to check in {tmp}/empty.jsonl"),
        (["--cassette", "{tmp}/broken.jsonl"], "{tmp}/broken.jsonl, line 2: not valid JSON"),
        (["--cassette", "{tmp}/bodies.jsonl"], '{tmp}/bodies.jsonl, line 1: an exchange needs a "request"'),
        (["--url", "http://127.0.0.1:{port}"], "cannot reach http://127.0.0.1:{port}"),
        (["--requests", "{tmp}/bodies.jsonl", "--to", "2025-01-01"], "--to: '2025-01-01' is not a version"),
        ([], "give one of --url, --cassette or --requests"),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], error: str):
    exchange = {"request": {"method": "POST", "path": "/v1/messages", "json": ask("Fine")}}
    write_lines(tmp_path / "broken.jsonl", [exchange, '{"model": '])  # line 1 reads as a body or an exchange
    write_lines(tmp_path / "bodies.jsonl", [ask("Fine")])
    (tmp_path / "empty.jsonl").write_text("\n")
    port = free_port()  # nothing listens there
    args = [arg.format(tmp=tmp_path, port=port) for arg in args]

    result = check_upgrade(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {error.format(tmp=tmp_path, port=port)}")
    assert result.stderr.count("\n") == 1


def test_a_cause_keeps_the_numbers_of_its_message():
    assert cause_of("messages.12.content.3.source: Field required") == "messages.N.content.N.source: Field required"
    assert cause_of("max_tokens: Input should be greater than or equal to 1") == (
        "max_tokens: Input should be greater than or equal to 1"
    )
    assert cause_of("The request body must be a JSON object") == "The request body must be a JSON object"
