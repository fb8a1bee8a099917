"""2026-10-21: what a Messages request may contain, under this version and
the one before it, through the official SDK (which sends 2026-10-21 by
default) and through raw HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread

from dateline.versions import VERSIONS
from dateline.versions.v2026_10_21 import (
    AssistantMessagesTakeNoDocuments,
    SamplingParametersRemoved,
    UserTextTakesNoCitations,
)

MODEL = "claude-sonnet-4-5"
OLD = {"anthropic-version": "2023-06-01"}
DOC = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "The tide is out."}}
CITATION = {
    "type": "char_location", "cited_text": "The tide is out.", "document_index": 0,
    "document_title": None, "start_char_index": 0, "end_char_index": 16,
}
SEARCH_CITATION = {
    "type": "search_result_location", "cited_text": "Tides", "source": "https://example.com", "title": None,
    "search_result_index": 0, "start_block_index": 0, "end_block_index": 0,
}


def sdk(base_url: str, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, timeout=30, default_headers=headers or None
    )


def user(*content: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


def assistant(*content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(content)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def search_result(*content: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "search_result", "source": "https://example.com", "title": "Tides", "content": list(content),
            **extra}


# --- the version history ----------------------------------------------------------------------------------


def test_the_entry_lists_the_three_changes() -> None:
    assert VERSIONS.get("2026-10-21").changes == (
        SamplingParametersRemoved, AssistantMessagesTakeNoDocuments, UserTextTakesNoCitations
    )
    lines = dict(VERSIONS.history())["2026-10-21"]
    for phrase in ("`temperature`", "`top_p`", "`top_k`", "`document`", "`assistant`", "`citations`", "`user`"):
        assert any(phrase in line for line in lines), phrase


# --- sampling parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [("temperature", 0.2), ("temperature", 1.0), ("top_p", 0.9), ("top_k", 5)])
def test_sampling_parameters_are_refused_under_2026_10_21(base_url: str, name: str, value: float) -> None:
    with sdk(base_url) as client, pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Hi"}], extra_body={name: value}
        )
    assert info.value.status_code == 400
    assert info.value.body["error"] == {
        "type": "invalid_request_error", "message": f"{name}: Extra inputs are not permitted"
    }
    assert info.value.request_id == info.value.body["request_id"]


def test_sampling_parameters_are_accepted_under_2023_06_01(base_url: str) -> None:
    with sdk(base_url, **OLD) as client:
        message = client.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Hi"}],
            extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5},
        )
    assert message.type == "message" and message.content


def test_the_built_in_model_does_not_sample(http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": "Tell me about tides"}]}
    plain = http.post("/v1/messages", json=body).json()
    hot = http.post("/v1/messages", json={**body, "temperature": 1.0, "top_k": 3}).json()
    assert plain["content"] == hot["content"] and plain["usage"] == hot["usage"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        ({"top_p": -0.1}, "top_p: Input should be greater than or equal to 0"),
        ({"top_k": -1}, "top_k: Input should be greater than or equal to 0"),
        ({"temperature": "0.5"}, "temperature: Input should be a valid number"),
    ],
)
def test_2023_06_01_still_checks_their_values(http: httpx.Client, extra: dict, message: str) -> None:
    body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}], **extra}
    response = http.post("/v1/messages", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == message


def test_count_tokens_never_took_them(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "temperature": 0.5}
    response = http.post("/v1/messages/count_tokens", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "temperature: Extra inputs are not permitted"


# --- documents in assistant messages and citations on user text -------------------------------------------

ACCEPTED = {
    "document in a user message": [user(DOC, text("Summarise it."))],
    "document nested in an assistant's web fetch result": [
        user(text("Fetch the tide table.")),
        assistant(
            {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_fetch", "input": {"url": "https://example.com"}},
            {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_01",
             "content": {"type": "web_fetch_result", "url": "https://example.com", "content": DOC}},
        ),
        user(text("Thanks.")),
    ],
    "citations on assistant text": [
        user(DOC, text("What does it say?")),
        assistant(text("The tide is out.", citations=[CITATION])),
        user(text("And then?")),
    ],
    "an empty citations array on user text": [user(text("Hi", citations=[]))],
    "null citations on user text": [user(text("Hi", citations=None))],
    "citations enabled on a document": [user({**DOC, "citations": {"enabled": True}}, text("Quote it."))],
    "citations enabled on a search result": [
        user(search_result(text("Tides rise twice a day."), citations={"enabled": True}), text("Use it."))
    ],
}
REFUSED = {
    "document directly in an assistant message": (
        [user(text("Hi")), assistant(DOC), user(text("Go on."))],
        "messages.1.content.0: `document` blocks are not allowed in `assistant` messages; "
        "send documents in a `user` message",
    ),
    "citations on user text": (
        [user(text("The tide is out.", citations=[CITATION]))],
        "messages.0.content.0.citations: citations are not allowed on `text` blocks in `user` messages; "
        "only the model's own `assistant` text carries citations",
    ),
    "citations on text in a user's search result": (
        [user(text("Look:"), search_result(text("Tides rise.", citations=[SEARCH_CITATION])))],
        "messages.0.content.1.content.0.citations: citations are not allowed on `text` blocks in `user` "
        "messages; only the model's own `assistant` text carries citations",
    ),
}


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("version", ["2023-06-01", "2026-10-21"])
@pytest.mark.parametrize("case", list(ACCEPTED))
def test_accepted_under_both_versions(http: httpx.Client, path: str, version: str, case: str) -> None:
    body = {"model": MODEL, "messages": ACCEPTED[case]}
    if path == "/v1/messages":
        body["max_tokens"] = 16
    response = http.post(path, json=body, headers={"anthropic-version": version})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_under_2026_10_21_only(http: httpx.Client, path: str, case: str) -> None:
    messages, message = REFUSED[case]
    body = {"model": MODEL, "messages": messages}
    if path == "/v1/messages":
        body["max_tokens"] = 16
    response = http.post(path, json=body, headers={"anthropic-version": "2026-10-21"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}
    assert response.json()["request_id"] == response.headers["request-id"]
    response = http.post(path, json=body, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 200, response.text


def test_the_sdk_meets_the_content_rules_on_count_tokens(base_url: str) -> None:
    messages, message = REFUSED["document directly in an assistant message"]
    with sdk(base_url) as client, pytest.raises(anthropic.BadRequestError) as info:
        client.messages.count_tokens(model=MODEL, messages=messages)
    assert info.value.body["error"]["message"] == message
    with sdk(base_url, **OLD) as client:
        assert client.messages.count_tokens(model=MODEL, messages=messages).input_tokens > 0


def test_a_schema_error_comes_before_a_content_rule(http: httpx.Client) -> None:
    messages, _ = REFUSED["document directly in an assistant message"]
    response = http.post(
        "/v1/messages", json={"model": MODEL, "messages": messages}, headers={"anthropic-version": "2026-10-21"}
    )
    assert response.json()["error"]["message"] == "max_tokens: Field required"


# --- batches keep the version they were created with -------------------------------------------------------


@pytest.fixture(scope="module")
def own() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


def results(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while client.messages.batches.retrieve(batch_id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return {line.custom_id: line.result for line in client.messages.batches.results(batch_id)}


BATCH = [
    {"custom_id": "plain", "params": {"model": MODEL, "max_tokens": 16, "messages": [user(text("Hi"))]}},
    {"custom_id": "sampled",
     "params": {"model": MODEL, "max_tokens": 16, "messages": [user(text("Hi"))], "temperature": 0.3}},
    {"custom_id": "document", "params": {"model": MODEL, "max_tokens": 16, "messages": REFUSED[
        "document directly in an assistant message"][0]}},
]


def test_a_batch_created_under_2026_10_21_refuses_what_that_version_refuses(own: ServerThread) -> None:
    with sdk(own.base_url) as client:
        batch = client.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
        # Read back under another version: the batch's own version still decides.
        with sdk(own.base_url, **OLD) as old:
            lines = results(old, batch.id)
    assert lines["plain"].type == "succeeded"
    assert lines["sampled"].type == "errored"
    assert lines["sampled"].error.error.message == "temperature: Extra inputs are not permitted"
    assert lines["document"].type == "errored"
    assert lines["document"].error.error.message == REFUSED["document directly in an assistant message"][1]


def test_a_batch_created_under_2023_06_01_accepts_them(own: ServerThread) -> None:
    with sdk(own.base_url, **OLD) as old:
        batch = old.messages.batches.create(requests=BATCH)  # type: ignore[arg-type]
    with sdk(own.base_url) as client:
        lines = results(client, batch.id)
    assert {custom_id: line.type for custom_id, line in lines.items()} == dict.fromkeys(lines, "succeeded")
    assert json.loads(lines["sampled"].message.to_json())["usage"]["service_tier"] == "batch"
