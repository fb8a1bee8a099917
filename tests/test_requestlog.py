"""The request log over HTTP (``/_dateline/requests``): what each entry holds,
credentials redacted, clearing it, its bounds in entries and bytes, and turning it off."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from conftest import ServerThread

from dateline import Settings
from dateline.credentials import is_credential
from dateline.requestlog import RequestLog, redact

MODEL = "claude-sonnet-4-5"
MESSAGE: dict[str, Any] = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "Hello there"}]}
ENTRY_KEYS = {"time", "request_id", "method", "path", "version", "betas", "api_key", "headers", "body", "rule", "status"}


@pytest.fixture
def http(served: ServerThread) -> Iterator[httpx.Client]:
    headers = {"x-api-key": "sk-ant-raw-key-0002", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as raw:
        yield raw


def entries(admin: httpx.Client) -> list[dict[str, Any]]:
    response = admin.get("/_dateline/requests")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_an_sdk_request_as_logged(served: ServerThread, admin: httpx.Client):
    before = time.time()
    with anthropic.Anthropic(base_url=served.base_url, api_key="sk-ant-sdk-key-0001", max_retries=0,
                             _strict_response_validation=True) as client:
        response = client.messages.with_raw_response.create(**MESSAGE, metadata={"user_id": "u-1"})
    [entry] = entries(admin)
    assert set(entry) == ENTRY_KEYS
    assert before <= entry["time"] <= time.time()
    assert entry["request_id"] == response.headers["request-id"]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/v1/messages", 200)
    assert entry["version"] == response.http_request.headers["anthropic-version"]
    assert entry["api_key"] == "[redacted]…0001"  # credentials show their last characters only
    assert entry["headers"]["authorization"] == "Bearer [redacted]…0001"
    assert entry["headers"]["x-stainless-retry-count"] == "0"
    assert entry["headers"]["user-agent"].startswith("Anthropic/Python")
    assert entry["body"] == {**MESSAGE, "metadata": {"user_id": "u-1"}}
    assert entry["betas"] == [] and entry["rule"] is None


def test_betas_version_and_rule(admin: httpx.Client, http: httpx.Client):
    admin.put("/_dateline/rules", json=[{"name": "hi", "match": {"last_user": "Hello"}, "reply": {"text": "Hi."}}])
    http.post("/v1/messages", json=MESSAGE, headers={"anthropic-beta": "token-counting-2024-11-01, files-api-2025-04-14"})
    http.post("/v1/messages", json={**MESSAGE, "messages": [{"role": "user", "content": "Bye"}]}, headers={"anthropic-version": "2023-01-01"})
    first, second = entries(admin)
    assert first["betas"] == ["token-counting-2024-11-01", "files-api-2025-04-14"]
    assert first["rule"] == {"index": 0, "name": "hi"} and second["rule"] is None
    assert (first["version"], second["version"]) == ("2023-06-01", "2023-01-01")
    assert first["api_key"] == "[redacted]…0002"
    assert first["headers"]["x-api-key"] == "[redacted]…0002"


def test_every_scripted_endpoint_and_failures_are_logged(admin: httpx.Client, http: httpx.Client):
    http.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": MESSAGE["messages"]})
    http.post("/v1/complete", json={"model": "claude-2.1", "max_tokens_to_sample": 5, "prompt": "\n\nHuman: Hi\n\nAssistant:"})
    http.post("/v1/messages", json={**MESSAGE, "max_tokens": "many"})  # invalid: 400
    http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": "overloaded_error"})
    http.post("/v1/messages", json={**MESSAGE, "stream": True})
    http.get("/v1/models")  # not a model answering: not logged
    logged = entries(admin)
    assert [(e["path"], e["status"]) for e in logged] == [
        ("/v1/messages/count_tokens", 200),
        ("/v1/complete", 200),
        ("/v1/messages", 400),
        ("/v1/messages", 529),
        ("/v1/messages", 200),
    ]
    assert logged[3]["rule"] == {"index": -1, "name": "dateline-fault header"}
    assert logged[4]["body"]["stream"] is True
    assert [e["time"] for e in logged] == sorted(e["time"] for e in logged)


def test_time_is_when_the_request_arrived(admin: httpx.Client, http: httpx.Client):
    sent = time.time()
    http.post("/v1/messages", json=MESSAGE, headers={"dateline-fault": "first_token_delay=0.3"})
    [entry] = entries(admin)
    assert entry["time"] - sent < 0.2


def test_delete_clears_the_log(admin: httpx.Client, http: httpx.Client):
    http.post("/v1/messages", json=MESSAGE)
    assert len(entries(admin)) == 1
    response = admin.delete("/_dateline/requests")
    assert response.status_code == 200 and response.json() == {"data": []}
    assert entries(admin) == []
    http.post("/v1/messages", json=MESSAGE)
    assert len(entries(admin)) == 1


def test_the_log_keeps_the_last_n_requests():
    with ServerThread(Settings(request_log_size=3)) as running, httpx.Client(base_url=running.base_url) as raw:
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        for n in range(5):
            raw.post("/v1/messages", json={**MESSAGE, "max_tokens": n + 1}, headers=headers)
        assert [e["body"]["max_tokens"] for e in raw.get("/_dateline/requests").json()["data"]] == [3, 4, 5]


def test_the_log_keeps_the_newest_within_its_bytes():
    log = RequestLog(10, max_bytes=13_000)
    for n in range(5):
        log.add(n, f"req_{n}", "POST", "/v1/messages", None, [], None, [], orjson.dumps({"n": n, "pad": "x" * 3000}), None, 200)
    kept = log.entries()
    assert [e["body"]["n"] for e in kept] == [2, 3, 4] and log.bytes <= 13_000
    log.add(5, "req_5", "POST", "/v1/messages", None, [], None, [], b"x" * 20_000, None, 200)
    last = log.entries()[-1]  # bigger than the whole log: kept without its body
    assert last["request_id"] == "req_5" and last["body"] is None and log.bytes <= 13_000


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("sk-ant-api03-abcdefghijklmnop-WXYZ", "[redacted]…WXYZ"),
        ("Bearer sk-ant-oat01-abcdefgh-WXYZ", "Bearer [redacted]…WXYZ"),
        ("short-key", "[redacted]"),  # too short to show any of it
        ("Bearer k", "Bearer [redacted]"),
    ],
)
def test_credentials_keep_only_their_last_characters(value: str, shown: str):
    assert redact(value) == shown


@pytest.mark.parametrize(
    ("name", "credential"),
    [("x-api-key", True), ("Authorization", True), ("cookie", True), ("x-dateline-admin-token", True),
     ("x-goog-api-key", True), ("x-auth-token", True), ("api-key", True),
     ("anthropic-version", False), ("x-stainless-retry-count", False), ("user-agent", False)],
)
def test_which_headers_are_credentials(name: str, credential: bool):
    assert is_credential(name) is credential


def test_size_zero_turns_the_log_off():
    with ServerThread(Settings(request_log_size=0)) as running, httpx.Client(base_url=running.base_url) as raw:
        response = raw.post("/v1/messages", json=MESSAGE, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
        assert response.status_code == 200
        assert raw.get("/_dateline/requests").json() == {"data": []}
    assert RequestLog(0).entries() == []


def test_a_negative_size_is_refused():
    with pytest.raises(ValueError, match="request_log_size"):
        Settings(request_log_size=-1)


def test_admin_calls_are_not_logged(admin: httpx.Client):
    admin.get("/_dateline/rules")
    admin.put("/_dateline/rules", json=[])
    assert entries(admin) == []


def test_the_log_is_readable_while_requests_arrive(admin: httpx.Client, served: ServerThread):
    import concurrent.futures

    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as raw:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            reads = pool.submit(lambda: [len(entries(admin)) for _ in range(10)])
            statuses = list(pool.map(lambda _: raw.post("/v1/messages", json=MESSAGE).status_code, range(20)))
    assert statuses == [200] * 20
    assert reads.result() == sorted(reads.result())
    logged = entries(admin)
    assert len(logged) == 20 and len({e["request_id"] for e in logged}) == 20
    assert all(re.fullmatch(r"req_011C[0-9A-Za-z]{20}", e["request_id"]) for e in logged)
