"""Faults on purpose, from a rule or the one-off ``dateline-fault`` header: API
errors with the API's envelope, the SDK's retries against them, streams that
fail or drop mid-way, and latency. Raw HTTP shows the wire; the official SDK
shows what a client makes of it.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from conftest import ServerThread, sse_events

MODEL = "claude-sonnet-4-5"
REQUEST_ID = re.compile(r"^req_011C[0-9A-Za-z]{20}$")
MESSAGE: dict[str, Any] = {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": "Tell me about tide pools"}]}
COMPLETION = {"model": "claude-2.1", "max_tokens_to_sample": 200, "prompt": "\n\nHuman: Tell me about tide pools\n\nAssistant:"}

#: error type -> (status, the SDK's exception)
ERRORS = {
    "invalid_request_error": (400, anthropic.BadRequestError),
    "authentication_error": (401, anthropic.AuthenticationError),
    "billing_error": (402, anthropic.APIStatusError),
    "permission_error": (403, anthropic.PermissionDeniedError),
    "not_found_error": (404, anthropic.NotFoundError),
    "conflict_error": (409, anthropic.ConflictError),
    "request_too_large": (413, anthropic.APIStatusError),
    "rate_limit_error": (429, anthropic.RateLimitError),
    "api_error": (500, anthropic.InternalServerError),
    "timeout_error": (504, anthropic.APIStatusError),
    "overloaded_error": (529, anthropic.APIStatusError),
}


def logged(admin: httpx.Client) -> list[dict[str, Any]]:
    return admin.get("/_dateline/requests").json()["data"]


def sdk(served: ServerThread, **kwargs: Any) -> anthropic.Anthropic:
    options = {"api_key": "sk-ant-test", "max_retries": 0, "timeout": 30, "_strict_response_validation": True, **kwargs}
    return anthropic.Anthropic(base_url=served.base_url, **options)


@pytest.fixture(scope="module")
def base_url(served: ServerThread) -> str:
    """This module's tests (and the shared ``client``/``http`` fixtures) talk to its own server."""
    return served.base_url


def assert_envelope(response: httpx.Response, status: int, error_type: str, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    rid = response.headers["request-id"]
    assert REQUEST_ID.fullmatch(rid)
    body = response.json()
    assert body == {"type": "error", "error": {"type": error_type, "message": body["error"]["message"]}, "request_id": rid}
    assert body["error"]["message"]
    if message is not None:
        assert body["error"]["message"] == message
    retry = status >= 500 or status in (409, 429)
    assert response.headers["x-should-retry"] == ("true" if retry else "false")
    return body


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("error_type", list(ERRORS))
def test_header_fault_answers_with_the_api_error(http: httpx.Client, error_type: str):
    status, _ = ERRORS[error_type]
    response = http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": error_type})
    assert_envelope(response, status, error_type)
    assert ("retry-after" in response.headers) is (status == 429)


@pytest.mark.parametrize("error_type", list(ERRORS))
def test_the_sdk_raises_its_exception_for_each_error(client: anthropic.Anthropic, error_type: str):
    status, exception = ERRORS[error_type]
    with pytest.raises(exception) as caught:
        client.messages.create(**MESSAGE, extra_headers={"dateline-fault": error_type})
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == error_type
    assert REQUEST_ID.fullmatch(caught.value.request_id)


def test_a_rule_fault_answers_on_every_scripted_endpoint(rules, http: httpx.Client):
    rules([{"fault": {"error": "permission_error", "message": "Not for you."}}])
    count = {"model": MODEL, "messages": MESSAGE["messages"]}
    for path, body in [("/v1/messages", MESSAGE), ("/v1/complete", COMPLETION), ("/v1/messages/count_tokens", count)]:
        assert_envelope(http.post(path, json=body), 403, "permission_error", "Not for you.")
        if path != "/v1/messages/count_tokens":
            assert_envelope(http.post(path, json={**body, "stream": True}), 403, "permission_error", "Not for you.")
    # The models list is not the model answering: no faults there.
    assert http.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    ("header", "status", "error_type", "extra"),
    [
        ("error=rate_limit_error; retry_after=7", 429, "rate_limit_error", {"retry-after": "7"}),
        ("rate_limit_error; retry_after=2.5", 429, "rate_limit_error", {"retry-after": "2.5"}),
        ("error=overloaded_error, message=Busy right now", 529, "overloaded_error", {}),
        ("api_error;", 500, "api_error", {}),
        ("request_too_large", 413, "request_too_large", {}),
    ],
)
def test_header_key_value_form(http: httpx.Client, header: str, status: int, error_type: str, extra: dict[str, str]):
    response = http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": header})
    body = assert_envelope(response, status, error_type)
    for name, value in extra.items():
        assert response.headers[name] == value
    if "message=" in header:
        assert body["error"]["message"] == "Busy right now"


@pytest.mark.parametrize(
    ("header", "mentions"),
    [
        ("", "error"),
        ("melted_error", "error"),
        ("error=nope", "error"),
        ("colour=red", "colour"),
        ("error=api_error; retry_after=soon", "retry_after"),
        ("error=api_error; retry_after=-1", "retry_after"),
        ("first_token_delay=inf", "first_token_delay"),
        ("first_token_delay=nan", "first_token_delay"),
        ("error=api_error; after_events=1.5", "after_events"),
        ("after_events=2", "after_events needs an error"),
        ("retry_after=1; api_error", "api_error"),
        ("=", "dateline-fault"),
        (";;;", "error"),
    ],
)
def test_bad_fault_headers_are_a_400_never_a_500(http: httpx.Client, header: str, mentions: str):
    for body in (MESSAGE, {**MESSAGE, "stream": True}):
        response = http.post("/v1/messages", json=body, headers={"dateline-fault": header})
        envelope = assert_envelope(response, 400, "invalid_request_error")
        assert envelope["error"]["message"].startswith("dateline-fault header")
        assert mentions in envelope["error"]["message"]


def test_a_fault_header_does_not_use_up_rules(rules, client: anthropic.Anthropic, admin):
    rules([{"reply": {"text": "Scripted."}, "times": 1}])
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(**MESSAGE, extra_headers={"dateline-fault": "rate_limit_error"})
    assert client.messages.create(**MESSAGE).content[0].text == "Scripted."
    assert [e["rule"] for e in logged(admin)] == [{"index": -1, "name": "dateline-fault header"}, {"index": 0, "name": None}]


def test_a_rate_limit_always_says_when_to_retry(http: httpx.Client):
    response = http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": "rate_limit_error"})
    assert_envelope(response, 429, "rate_limit_error")
    assert float(response.headers["retry-after"]) >= 0


# --- retries ------------------------------------------------------------------------------------


def test_the_sdk_retries_a_529_twice_and_succeeds(rules, served: ServerThread, admin):
    rules([{"name": "busy", "fault": {"error": "overloaded_error", "retry_after": 0.05}, "times": 2}])
    # The SDK as users make it: max_retries left at its default (2).
    with anthropic.Anthropic(base_url=served.base_url, api_key="sk-ant-test", _strict_response_validation=True) as client:
        assert client.max_retries == 2
        message = client.messages.create(**MESSAGE)
    assert message.content[0].type == "text"
    entries = logged(admin)
    assert [e["status"] for e in entries] == [529, 529, 200]
    assert [e["headers"]["x-stainless-retry-count"] for e in entries] == ["0", "1", "2"]
    assert [e["rule"] for e in entries] == [{"index": 0, "name": "busy"}] * 2 + [None]


def test_fail_twice_then_succeed_over_raw_http(rules, http: httpx.Client):
    rules([{"fault": {"error": "api_error"}, "times": 2}, {"reply": {"text": "Third time lucky."}}])
    statuses = [http.post("/v1/messages", json=MESSAGE) for _ in range(3)]
    assert [r.status_code for r in statuses] == [500, 500, 200]
    assert statuses[2].json()["content"][0]["text"] == "Third time lucky."


def test_the_sdk_gives_up_after_its_retries(rules, served: ServerThread, admin):
    rules([{"fault": {"error": "overloaded_error", "retry_after": 0.01}}])
    with sdk(served, max_retries=2) as client, pytest.raises(anthropic.OverloadedError):
        client.messages.create(**MESSAGE)
    assert [e["status"] for e in logged(admin)] == [529, 529, 529]


def test_the_sdk_honours_retry_after_on_429(rules, served: ServerThread, admin):
    rules([{"fault": {"error": "rate_limit_error", "retry_after": 1}, "times": 1}])
    with sdk(served, max_retries=1) as client:
        client.messages.create(**MESSAGE)
    first, second = logged(admin)
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 0.95


# --- streams that break ---------------------------------------------------------------------------


def test_error_after_n_events_on_the_wire(rules, http: httpx.Client):
    rules([{"fault": {"error": "overloaded_error", "after_events": 3}}])
    response = http.post("/v1/messages", json={**MESSAGE, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta", "error"]
    error = json.loads(events[-1][1])
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                     "request_id": response.headers["request-id"]}


def test_error_after_n_events_through_the_sdk(rules, client: anthropic.Anthropic):
    rules([{"fault": {"error": "overloaded_error", "after_events": 5}}])
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(**MESSAGE) as stream:
            for event in stream:
                seen.append(event.type)
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert "message_stop" not in seen and "content_block_start" in seen


def test_error_after_zero_events_is_an_http_error(rules, http: httpx.Client):
    rules([{"fault": {"error": "rate_limit_error", "after_events": 0, "retry_after": 3}}])
    response = http.post("/v1/messages", json={**MESSAGE, "stream": True})
    assert_envelope(response, 429, "rate_limit_error")
    assert response.headers["retry-after"] == "3"


def test_error_after_events_without_a_stream_is_an_http_error(rules, http: httpx.Client):
    # Without a stream there are no events to get through first: the request fails.
    rules([{"fault": {"error": "overloaded_error", "after_events": 4}}])
    assert_envelope(http.post("/v1/messages", json=MESSAGE), 529, "overloaded_error")
    assert_envelope(http.post("/v1/complete", json=COMPLETION), 529, "overloaded_error")


@pytest.mark.parametrize("version", ["2023-06-01", "2023-01-01"])
def test_a_completion_stream_breaks_in_its_version_format(rules, http: httpx.Client, version: str):
    rules([{"fault": {"error": "api_error", "after_events": 3}}])
    response = http.post("/v1/complete", json={**COMPLETION, "stream": True}, headers={"anthropic-version": version})
    events = sse_events(response.text)
    assert len(events) == 4
    name, data = events[-1]
    assert name == ("error" if version == "2023-06-01" else None)
    assert json.loads(data)["error"]["type"] == "api_error"
    assert "[DONE]" not in [d for _, d in events]


def test_the_header_breaks_a_stream_too(http: httpx.Client):
    response = http.post("/v1/messages", json={**MESSAGE, "stream": True},
                         headers={"dateline-fault": "error=api_error; after_events=2"})
    assert [name for name, _ in sse_events(response.text)] == ["message_start", "content_block_start", "error"]


def read_events(response: httpx.Response) -> list[str]:
    names = []
    for line in response.iter_lines():
        if line.startswith("event: "):
            names.append(line[len("event: "):])
    return names


def test_disconnect_mid_stream_on_the_wire(rules, http: httpx.Client):
    rules([{"fault": {"disconnect_after_events": 4}, "times": 1}])
    names: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream("POST", "/v1/messages", json={**MESSAGE, "stream": True}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("event: "):
                    names.append(line[len("event: "):])
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_delta"]
    # The server keeps serving.
    assert http.post("/v1/messages", json=MESSAGE).status_code == 200


def test_disconnect_mid_stream_through_the_sdk(rules, client: anthropic.Anthropic, http: httpx.Client):
    rules([{"fault": {"disconnect_after_events": 6}, "times": 1}])
    seen = []
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        with client.messages.stream(**MESSAGE) as stream:
            for event in stream:
                seen.append(event.type)
    assert seen and "message_stop" not in seen
    assert http.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": MESSAGE["messages"]}).status_code == 200


@pytest.mark.parametrize("stream", [True, False])
def test_disconnect_before_any_event(served: ServerThread, http: httpx.Client, stream: bool):
    # Dropped before an answer, whether streamed or not: a connection error, not a 500.
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/messages", json={**MESSAGE, "stream": stream}, headers={"dateline-fault": "disconnect_after_events=0"})
    with sdk(served) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**MESSAGE, extra_headers={"dateline-fault": "disconnect_after_events=0"})
    assert http.post("/v1/messages", json=MESSAGE).status_code == 200


# --- latency ----------------------------------------------------------------------------------


def timed_stream(http: httpx.Client, headers: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(seconds to the first event, seconds to the end, number of deltas)."""
    start = time.monotonic()
    first = None
    deltas = 0
    with http.stream("POST", "/v1/messages", json={**MESSAGE, "stream": True}, headers=headers or {}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                first = first or time.monotonic() - start
                deltas += line == "event: content_block_delta"
    return first, time.monotonic() - start, deltas


def test_first_token_delay(rules, http: httpx.Client):
    quick, _, _ = timed_stream(http)
    rules([{"fault": {"first_token_delay": 0.4}}])
    slow, _, _ = timed_stream(http)
    assert slow >= 0.4 > quick


def test_token_delay(http: httpx.Client):
    _, quick, deltas = timed_stream(http)
    _, slow, _ = timed_stream(http, {"dateline-fault": "token_delay=0.01"})
    assert deltas > 10
    assert slow >= deltas * 0.01 and slow > quick


def test_first_token_delay_without_a_stream_delays_the_answer(http: httpx.Client):
    start = time.monotonic()
    response = http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": "first_token_delay=0.3"})
    assert response.status_code == 200 and time.monotonic() - start >= 0.3


def test_a_delayed_error(http: httpx.Client):
    start = time.monotonic()
    response = http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": "api_error; first_token_delay=0.3"})
    assert_envelope(response, 500, "api_error")
    assert time.monotonic() - start >= 0.3


def test_a_latency_header_keeps_the_scripted_reply(rules, client: anthropic.Anthropic):
    rules([{"reply": {"text": "Slow but scripted."}}])
    start = time.monotonic()
    with client.messages.stream(**MESSAGE, extra_headers={"dateline-fault": "first_token_delay=0.3"}) as stream:
        message = stream.get_final_message()
    assert message.content[0].text == "Slow but scripted."
    assert time.monotonic() - start >= 0.3


def test_a_slowed_scripted_stream_through_the_sdk(rules, client: anthropic.Anthropic):
    rules([{"reply": {"text": "one two three four five six seven eight"}, "fault": {"token_delay": 0.03}}])
    start = time.monotonic()
    arrivals = []
    with client.messages.stream(**MESSAGE) as stream:
        for text in stream.text_stream:
            arrivals.append(time.monotonic() - start)
    # The server waits before every delta, so the last one cannot come sooner.
    assert len(arrivals) >= 8
    assert arrivals[-1] >= 0.03 * len(arrivals)
