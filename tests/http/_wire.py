"""What the edge tests check on every answer: the error envelope, the request id
and the retry hint, plus one valid request per endpoint."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx

REQUEST_ID = re.compile(r"^req_011C[0-9A-Za-z]{20}$")
MODEL = "claude-sonnet-4-5"
MESSAGE: dict[str, Any] = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "Hello there"}]}
COUNT: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hello there"}]}
COMPLETION: dict[str, Any] = {
    "model": "claude-2.1",
    "max_tokens_to_sample": 16,
    "prompt": "\n\nHuman: Hello there\n\nAssistant:",
}
#: (method, path, JSON body or None): one valid request for each endpoint.
ENDPOINTS = [
    ("POST", "/v1/messages", MESSAGE),
    ("POST", "/v1/messages/count_tokens", COUNT),
    ("POST", "/v1/complete", COMPLETION),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/claude-sonnet-4-5", None),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


def should_retry(status: int) -> str:
    """The SDKs' retry rule, as the server states it in ``x-should-retry``."""
    return "true" if status >= 500 or status in (409, 429) else "false"


def assert_request_id(response: httpx.Response) -> str:
    rid = response.headers.get("request-id")
    assert rid is not None, f"no request-id on {response.status_code} {response.request.url}"
    assert REQUEST_ID.fullmatch(rid), rid
    return rid


def assert_error(response: httpx.Response, status: int, error_type: str, message: str | None = None) -> dict:
    """The API's error envelope, exactly: status, type, message, request id in body and header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    rid = assert_request_id(response)
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}, body
    assert body["type"] == "error"
    assert body["request_id"] == rid
    assert set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == error_type, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if message is not None:
        assert body["error"]["message"] == message
    assert response.headers["x-should-retry"] == should_retry(status)
    assert "Traceback" not in response.text
    return body


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would, read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
