"""Golden wire tests: the exact bytes each version answers to a fixed request.

One file per version x endpoint x mode under ``golden/<version>/``: the status,
the content-type, a blank line, then the body byte for byte. Only the random
ids (``msg_``, ``compl_``, ``req_``) are replaced, by ``msg_<ID>``,
``msg_<ID2>``, ... in order of first appearance, so two fields holding the
same id still show the same placeholder.

Run with ``DATELINE_UPDATE_GOLDEN=1`` to rewrite the files, then read the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FailingBackend, ServerThread, sse_events

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DATELINE_UPDATE_GOLDEN") == "1"
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")

# The ids Dateline makes: a prefix, "011C", 20 base62 characters, nothing more.
_ID = re.compile(rb"(?<![0-9A-Za-z_])(msg|compl|req)_011C[0-9A-Za-z]{20}(?![0-9A-Za-z_])")

_MESSAGES = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Tell me about tide pools"}]}
_COMPLETE = {"model": "claude-2.1", "prompt": "\n\nHuman: Tell me about tide pools\n\nAssistant:",
             "max_tokens_to_sample": 256}

_DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Tides turn."}}
_ASSISTANT_DOCUMENT = {"model": "claude-sonnet-4-5", "messages": [
    {"role": "user", "content": "Read this"}, {"role": "assistant", "content": [_DOCUMENT]},
    {"role": "user", "content": "Summarise it"}]}
_USER_CITATIONS = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [
    {"type": "text", "text": "Tides turn.", "citations": [
        {"type": "char_location", "cited_text": "Tides turn.", "document_index": 0, "document_title": None,
         "start_char_index": 0, "end_char_index": 11}]}]}]}
CHANGED_2026 = ("messages-sampling", "messages-assistant-document", "count_tokens-user-citations")

# name -> (method, path, JSON body or None)
CASES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "messages": ("POST", "/v1/messages", {**_MESSAGES, "max_tokens": 256}),
    "messages-stream": ("POST", "/v1/messages", {**_MESSAGES, "max_tokens": 256, "stream": True}),
    "count_tokens": ("POST", "/v1/messages/count_tokens", _MESSAGES),
    "complete": ("POST", "/v1/complete", _COMPLETE),
    "complete-stream": ("POST", "/v1/complete", {**_COMPLETE, "stream": True}),
    "models-list": ("GET", "/v1/models", None),
    "models-retrieve": ("GET", "/v1/models/claude-sonnet-4-5", None),
    # Errors, per version: none of them is migrated.
    "messages-error": ("POST", "/v1/messages", _MESSAGES),  # no max_tokens
    "complete-error": ("POST", "/v1/complete", {**_COMPLETE, "prompt": "Hello, world"}),
    "complete-error-model": ("POST", "/v1/complete", {**_COMPLETE, "model": "claude-9"}),
    "models-retrieve-error": ("GET", "/v1/models/claude-9", None),
    # What 2026-10-21 changed: requests it refuses and older versions answer.
    "messages-sampling": ("POST", "/v1/messages", {**_MESSAGES, "max_tokens": 256, "temperature": 0.5}),
    "messages-assistant-document": ("POST", "/v1/messages", {**_ASSISTANT_DOCUMENT, "max_tokens": 256}),
    "count_tokens-user-citations": ("POST", "/v1/messages/count_tokens", _USER_CITATIONS),
}
# Answered by a backend that is overloaded after two words.
FAILING_CASES = {"complete-stream-error": ("POST", "/v1/complete", {**_COMPLETE, "stream": True})}


def scrub(body: bytes) -> bytes:
    seen: dict[bytes, bytes] = {}

    def placeholder(match: re.Match[bytes]) -> bytes:
        value = match.group(0)
        if value not in seen:
            prefix = match.group(1)
            n = 1 + sum(1 for known in seen if known.startswith(prefix + b"_"))
            seen[value] = prefix + (b"_<ID>" if n == 1 else b"_<ID%d>" % n)
        return seen[value]

    return _ID.sub(placeholder, body)


def wire(response: httpx.Response) -> bytes:
    head = f"status: {response.status_code}\ncontent-type: {response.headers['content-type']}\n\n"
    return head.encode() + scrub(response.content)


def send(base_url: str, version: str, case: tuple[str, str, dict[str, Any] | None]) -> httpx.Response:
    method, path, body = case
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": version}
    response = httpx.request(method, base_url + path, json=body, headers=headers, timeout=30)
    # The one id not scrubbed blind: an error (body or event) repeats the request-id header.
    if b'"request_id":"' in response.content:
        assert b'"request_id":"' + response.headers["request-id"].encode() + b'"' in response.content
    return response


def check(path: Path, actual: bytes) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: run with DATELINE_UPDATE_GOLDEN=1 to write it")
    expected = path.read_bytes()
    # Compare as text first for a readable diff, then as bytes to be exact.
    assert actual.decode() == expected.decode(), f"{path} differs (DATELINE_UPDATE_GOLDEN=1 rewrites it)"
    assert actual == expected


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("version", VERSIONS)
def test_golden(base_url: str, version: str, name: str) -> None:
    check(GOLDEN / version / f"{name}.txt", wire(send(base_url, version, CASES[name])))


@pytest.fixture(scope="module")
def failing_url() -> Any:
    with ServerThread(backend=FailingBackend()) as running:
        yield running.base_url


@pytest.mark.parametrize("name", FAILING_CASES)
@pytest.mark.parametrize("version", VERSIONS)
def test_golden_mid_stream_error(failing_url: str, version: str, name: str) -> None:
    check(GOLDEN / version / f"{name}.txt", wire(send(failing_url, version, FAILING_CASES[name])))


# -- what the golden files must say about each other ---------------------------------------

UNVERSIONED = ("messages", "messages-stream", "count_tokens", "models-list", "models-retrieve",
               "messages-error", "complete-error", "complete-error-model", "models-retrieve-error", *CHANGED_2026)


@pytest.mark.skipif(UPDATE, reason="the files are being rewritten")
def test_2026_10_21_answers_as_2023_06_01_but_what_it_refuses() -> None:
    for name in [*CASES, *FAILING_CASES]:
        same = (GOLDEN / "2026-10-21" / f"{name}.txt").read_bytes() == \
            (GOLDEN / "2023-06-01" / f"{name}.txt").read_bytes()
        assert same == (name not in CHANGED_2026), name
    for name in CHANGED_2026:
        assert read("2026-10-21", name)[0].startswith("status: 400"), name
        assert read("2023-06-01", name)[0].startswith("status: 200"), name
        assert read("2023-01-01", name) == read("2023-06-01", name), name


@pytest.mark.skipif(UPDATE, reason="the files are being rewritten")
def test_only_completions_differ_under_2023_01_01() -> None:
    for name in UNVERSIONED:
        assert (GOLDEN / "2023-01-01" / f"{name}.txt").read_bytes() == \
            (GOLDEN / "2023-06-01" / f"{name}.txt").read_bytes(), name
    for name in ("complete", "complete-stream", "complete-stream-error"):
        assert (GOLDEN / "2023-01-01" / f"{name}.txt").read_bytes() != \
            (GOLDEN / "2023-06-01" / f"{name}.txt").read_bytes(), name


def test_scrub_replaces_only_whole_ids() -> None:
    body = (b'{"id":"compl_011CqFmodjc1Hsrs3iIXOJLT","log_id":"compl_011CqFmodjc1Hsrs3iIXOJLT",'
            b'"other":"compl_011CqFmodjc1Hsrs3iIXOJLU","request_id":"req_011CqFmodjc1Hsrs3iIXOJLT",'
            b'"text":"msg_011Cshort","toolu":"toolu_011CqFmodjc1Hsrs3iIXOJLT","long":"msg_011CqFmodjc1Hsrs3iIXOJLTx"}')
    assert scrub(body) == (b'{"id":"compl_<ID>","log_id":"compl_<ID>","other":"compl_<ID2>","request_id":"req_<ID>",'
                           b'"text":"msg_011Cshort","toolu":"toolu_011CqFmodjc1Hsrs3iIXOJLT",'
                           b'"long":"msg_011CqFmodjc1Hsrs3iIXOJLTx"}')


def read(version: str, name: str) -> tuple[str, bytes]:
    head, _, body = (GOLDEN / version / f"{name}.txt").read_bytes().partition(b"\n\n")
    return head.decode(), body


@pytest.mark.skipif(UPDATE, reason="the files are being rewritten")
@pytest.mark.parametrize("version", VERSIONS)
def test_golden_streams_tell_the_same_story_as_the_bodies(version: str) -> None:
    message = json.loads(read(version, "messages")[1])
    events = sse_events(read(version, "messages-stream")[1].decode())
    assert all(name == json.loads(data)["type"] for name, data in events)
    payloads = [json.loads(data) for _, data in events]
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert [{"type": "text", "text": text}] == message["content"]
    stop = ("stop_reason", "stop_sequence", "stop_details", "container")
    assert payloads[-2]["delta"] == {field: message[field] for field in stop}
    assert payloads[-2]["usage"]["output_tokens"] == message["usage"]["output_tokens"]
    assert json.loads(read(version, "count_tokens")[1]) == {"input_tokens": message["usage"]["input_tokens"]}

    completion = json.loads(read(version, "complete")[1])
    pieces = [json.loads(data) for _, data in sse_events(read(version, "complete-stream")[1].decode())
              if data != "[DONE]"]
    texts = [p["completion"] for p in pieces if p["type"] == "completion"]
    streamed = texts[-1] if version == "2023-01-01" else "".join(texts)
    assert streamed == completion["completion"]
    assert pieces[-1]["stop_reason"] == completion["stop_reason"] == "stop_sequence"
