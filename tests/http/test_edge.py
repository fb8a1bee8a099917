"""The edge over real HTTP: headers, bodies, failures and the error envelope.

Every case is checked on the wire (status, ``error.type``, exact message,
``request_id`` equal to the ``request-id`` header) and, where the official SDK
can express the request, through the SDK as well (exception class, ``.request_id``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from _wire import (
    COMPLETION,
    COUNT,
    ENDPOINT_IDS,
    ENDPOINTS,
    MESSAGE,
    MODEL,
    assert_error,
    assert_request_id,
    raw_exchange,
)
from conftest import ServerThread, sse_events

from dateline import Settings, create_app, errors
from dateline.backends import Backend
from dateline.types import Event
from dateline.versions import VERSIONS

MB = 1024 * 1024
LIMIT = 32 * MB
KNOWN_VERSIONS = sorted({"2023-01-01", "2023-06-01", "2026-10-21"} | {v.date for v in VERSIONS})
BETA_SUFFIX = (
    " for the `anthropic-beta` header. Please consult our documentation at docs.anthropic.com"
    " or try again without the header."
)


def sdk(base_url: str, api_key: str = "sk-ant-test") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0, _strict_response_validation=True)


def send(http: httpx.Client, method: str, path: str, body: Any, headers: list[tuple[str, str]]) -> httpx.Response:
    """A request with exactly these headers (repeats kept), none of the client's defaults."""
    content = None if body is None else json.dumps(body).encode()
    if content is not None:
        headers = [*headers, ("content-type", "application/json")]
    return http.send(httpx.Request(method, http.base_url.join(path), headers=headers, content=content))


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    """As the shared fixture (x-api-key, 2023-06-01), kept for the module: hundreds of requests."""
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as raw:
        yield raw


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    """As the shared fixture (today's SDK: Bearer, 2026-10-21, strict), kept for the module."""
    with sdk(base_url) as official:
        yield official


AUTH = [("x-api-key", "sk-ant-test")]
V = [("anthropic-version", "2023-06-01")]


# --- anthropic-version ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_missing_version(http, method, path, body):
    response = send(http, method, path, body, AUTH)
    assert_error(response, 400, "invalid_request_error", "anthropic-version: header is required")


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_unknown_version(http, method, path, body):
    response = send(http, method, path, body, [*AUTH, ("anthropic-version", "2023-10-01")])
    assert_error(response, 400, "invalid_request_error", 'anthropic-version: "2023-10-01" is not a valid version')


@pytest.mark.parametrize("value", ["", "latest", "2023-6-1", "2026-10-21x", "2023-06-01,2023-06-01", "v1"])
def test_near_miss_versions_are_refused_verbatim(http, value):
    response = send(http, "POST", "/v1/messages", MESSAGE, [*AUTH, ("anthropic-version", value)])
    body = assert_error(response, 400, "invalid_request_error")
    assert body["error"]["message"] == f'anthropic-version: "{value}" is not a valid version'


def test_version_sent_twice(http):
    headers = [*AUTH, ("anthropic-version", "2023-06-01"), ("anthropic-version", "2023-06-01")]
    response = send(http, "POST", "/v1/messages", MESSAGE, headers)
    assert_error(
        response, 400, "invalid_request_error", 'anthropic-version: "2023-06-01, 2023-06-01" is not a valid version'
    )


@pytest.mark.parametrize("version", KNOWN_VERSIONS)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_known_version_on_every_endpoint(http, version, method, path, body):
    response = send(http, method, path, body, [*AUTH, ("anthropic-version", version)])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_request_id(response)
    assert "error" not in response.json()


def test_sdk_missing_version(client):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(**MESSAGE, extra_headers={"anthropic-version": anthropic.omit})
    exc = info.value
    assert exc.status_code == 400
    assert exc.type == "invalid_request_error"
    assert exc.body["error"]["message"] == "anthropic-version: header is required"
    assert exc.request_id is not None and exc.request_id == exc.body["request_id"]


def test_sdk_unknown_version(client):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.count_tokens(**COUNT, extra_headers={"anthropic-version": "2023-10-01"})
    assert info.value.body["error"]["message"] == 'anthropic-version: "2023-10-01" is not a valid version'
    assert info.value.request_id == info.value.body["request_id"]


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_no_credentials(http, method, path, body):
    response = send(http, method, path, body, V)
    assert_error(response, 401, "authentication_error", "x-api-key header is required")


@pytest.mark.parametrize(
    "headers",
    [
        [("x-api-key", "")],
        [("authorization", "Bearer")],
        [("authorization", "")],
        [("authorization", "Basic c2stYW50LXRlc3Q=")],
        [("authorization", "sk-ant-test")],
        [("x-api-key", ""), ("authorization", "Bearer")],
    ],
    ids=["empty-key", "bearer-no-token", "empty-authorization", "basic", "no-scheme", "both-empty"],
)
def test_unusable_credentials_count_as_none(http, headers):
    response = send(http, "POST", "/v1/messages", MESSAGE, [*V, *headers])
    assert_error(response, 401, "authentication_error", "x-api-key header is required")


def test_no_credentials_is_checked_before_the_version(http):
    response = send(http, "POST", "/v1/messages", MESSAGE, [])
    assert_error(response, 401, "authentication_error", "x-api-key header is required")


@pytest.mark.parametrize(
    "headers",
    [[("x-api-key", "anything")], [("authorization", "Bearer anything")], [("authorization", "bearer anything")]],
    ids=["x-api-key", "bearer", "bearer-lowercase"],
)
def test_any_key_accepted_by_default(http, headers):
    response = send(http, "POST", "/v1/messages", MESSAGE, [*V, *headers])
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


def test_sdk_without_credentials(client):
    with pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(**MESSAGE, extra_headers={"Authorization": anthropic.omit})
    assert info.value.status_code == 401
    assert info.value.body["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    assert info.value.request_id == info.value.body["request_id"]


@pytest.fixture(scope="module")
def locked() -> Iterator[ServerThread]:
    with ServerThread(Settings(api_keys=["sk-good"])) as running:
        yield running


@pytest.fixture(scope="module")
def locked_http(locked) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=locked.base_url, timeout=30) as raw:
        yield raw


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("x-api-key", "sk-bad")], "invalid x-api-key"),
        ([("authorization", "Bearer sk-bad")], "Invalid bearer token"),
        ([("x-api-key", "sk-bad"), ("authorization", "Bearer sk-worse")], "invalid x-api-key"),
        ([("x-api-key", "sk-good-not")], "invalid x-api-key"),
        ([("x-api-key", "SK-GOOD")], "invalid x-api-key"),
        ([("authorization", "Bearer sk-goo")], "Invalid bearer token"),
        ([("x-api-key", "sk-bad"), ("authorization", "Token sk-good")], "invalid x-api-key"),
        # With both, x-api-key decides, as the API does: a good Bearer token does not rescue a bad key.
        ([("x-api-key", "sk-bad"), ("authorization", "Bearer sk-good")], "invalid x-api-key"),
    ],
    ids=["x-api-key", "bearer", "both-bad", "prefix", "case", "truncated", "other-scheme", "bad-key-good-bearer"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_locked_server_refuses_wrong_keys(locked_http, headers, message, method, path, body):
    response = send(locked_http, method, path, body, [*V, *headers])
    assert_error(response, 401, "authentication_error", message)


@pytest.mark.parametrize(
    "headers",
    [
        [("x-api-key", "sk-good")],
        [("authorization", "Bearer sk-good")],
        [("x-api-key", "sk-good"), ("authorization", "Bearer sk-bad")],
    ],
    ids=["x-api-key", "bearer", "good-key-bad-bearer"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_locked_server_accepts_the_key(locked_http, headers, method, path, body):
    response = send(locked_http, method, path, body, [*V, *headers])
    assert response.status_code == 200, response.text
    assert_request_id(response)


def test_locked_server_without_a_usable_key(locked_http):
    # A credential in a scheme other than Bearer is no credential at all.
    response = send(locked_http, "POST", "/v1/messages", MESSAGE, [*V, ("authorization", "Basic sk-good")])
    assert_error(response, 401, "authentication_error", "x-api-key header is required")


def test_locked_server_through_the_sdk(locked):
    with sdk(locked.base_url, "sk-good") as good:
        assert good.messages.create(**MESSAGE).type == "message"
        assert good.messages.count_tokens(**COUNT).input_tokens > 0
    # Today's SDKs send the key as a Bearer token, and are told so when it is wrong.
    with sdk(locked.base_url, "sk-bad") as bad, pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(**MESSAGE)
    assert info.value.body["error"] == {"type": "authentication_error", "message": "Invalid bearer token"}
    assert info.value.request_id == info.value.body["request_id"]
    legacy = anthropic.Anthropic(
        base_url=locked.base_url, max_retries=0, default_headers={"x-api-key": "sk-bad", "authorization": ""}
    )
    with legacy, pytest.raises(anthropic.AuthenticationError) as info:
        legacy.messages.create(**MESSAGE)
    assert info.value.body["error"]["message"] == "invalid x-api-key"


# --- anthropic-beta ---------------------------------------------------------------------


CLAUDE_CODE_BETAS = ["claude-code-20250219", "context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]


@pytest.mark.parametrize(
    "beta_headers",
    [
        [",".join(CLAUDE_CODE_BETAS)],
        [", ".join(CLAUDE_CODE_BETAS)],
        CLAUDE_CODE_BETAS,
        ["claude-code-20250219,context-1m-2025-08-07", "interleaved-thinking-2025-05-14"],
        ["token-counting-2024-11-01,token-counting-2024-11-01"],
    ],
    ids=["comma-list", "comma-space-list", "repeated-header", "both", "duplicate-value"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_known_betas_accepted(http, beta_headers, method, path, body):
    headers = [*AUTH, *V, *(("anthropic-beta", value) for value in beta_headers)]
    response = send(http, method, path, body, headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("beta_headers", "quoted"),
    [
        (["x"], "`x`"),
        (["x,y"], "`x`, `y`"),
        (["x", "y"], "`x`, `y`"),
        (["claude-code-20250219,x"], "`x`"),
        (["claude-code-20250219", "x, x"], "`x`"),
        ([""], "``"),
        (["claude-code-20250219,"], "``"),
        (["CLAUDE-CODE-20250219"], "`CLAUDE-CODE-20250219`"),
    ],
    ids=["one", "comma-list", "repeated", "mixed", "repeat-value", "empty", "trailing-comma", "case"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_unknown_betas_refused(http, beta_headers, quoted, method, path, body):
    headers = [*AUTH, *V, *(("anthropic-beta", value) for value in beta_headers)]
    response = send(http, method, path, body, headers)
    assert_error(response, 400, "invalid_request_error", f"Unexpected value(s) {quoted}{BETA_SUFFIX}")


def test_sdk_betas(client):
    message = client.beta.messages.create(**MESSAGE, betas=["context-1m-2025-08-07", "effort-2025-11-24"])
    assert message.type == "message"
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.create(**MESSAGE, betas=["no-such-beta-2099-01-01"])
    assert info.value.body["error"]["message"] == f"Unexpected value(s) `no-such-beta-2099-01-01`{BETA_SUFFIX}"
    assert info.value.request_id == info.value.body["request_id"]


@pytest.mark.parametrize("query", ["?beta=true", "?beta=false", "?beta=true&beta=true", "?beta="])
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_beta_query_ignored(http, query, method, path, body):
    plain = send(http, method, path, body, [*AUTH, *V])
    flagged = send(http, method, path + query, body, [*AUTH, *V])
    assert plain.status_code == flagged.status_code == 200, flagged.text
    assert_request_id(flagged)
    if path != "/v1/messages" and path != "/v1/complete":  # the same answer, ids aside
        assert flagged.json() == plain.json()


def test_beta_query_does_not_hide_errors(http):
    response = send(http, "POST", "/v1/messages?beta=true", MESSAGE, AUTH)
    assert_error(response, 400, "invalid_request_error", "anthropic-version: header is required")


# --- paths and methods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("POST", "/"),
        ("GET", "/v1"),
        ("POST", "/v1/message"),
        ("POST", "/v2/messages"),
        ("POST", "/v1/messages/"),
        ("POST", "/v1/complete/"),
        ("POST", "/v1/messages/count_tokens/"),
        ("POST", "/v1/chat/completions/"),
        ("GET", "/v1/filez"),
        ("GET", "/V1/MODELS"),
    ],
)
def test_unknown_path(http, method, path):
    response = send(http, method, path, {}, [*AUTH, *V])
    assert_error(response, 404, "not_found_error")


def test_sdk_unknown_path(client):
    with pytest.raises(anthropic.NotFoundError) as info:
        client.get("/v1/nowhere", cast_to=object)
    assert info.value.type == "not_found_error"
    assert info.value.request_id == info.value.body["request_id"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/messages", "POST"),
        ("PUT", "/v1/messages", "POST"),
        ("DELETE", "/v1/messages/count_tokens", "POST"),
        ("GET", "/v1/complete", "POST"),
        ("DELETE", "/v1/models", "GET, HEAD"),
        ("POST", "/v1/models", "GET, HEAD"),
        ("PATCH", "/v1/models/claude-sonnet-4-5", "GET, HEAD"),
    ],
)
def test_wrong_method(http, method, path, allow):
    response = send(http, method, path, None, [*AUTH, *V])
    assert_error(response, 405, "invalid_request_error", "Method Not Allowed")
    assert response.headers["allow"] == allow


def test_wrong_method_without_credentials_is_still_405(http):
    response = send(http, "GET", "/v1/messages", None, [])
    assert_error(response, 405, "invalid_request_error")


@pytest.mark.parametrize("headers", [[], [*AUTH, *V]], ids=["bare", "with-headers"])
def test_head_root(http, headers):
    # Claude Code sends `HEAD /` before its first request; any non-5xx answer will do.
    response = send(http, "HEAD", "/", None, headers)
    assert response.status_code < 500
    assert response.content == b""
    assert_request_id(response)


def test_head_on_a_get_endpoint(http):
    response = send(http, "HEAD", "/v1/models", None, [*AUTH, *V])
    assert response.status_code == 200
    assert response.content == b""
    assert_request_id(response)


# --- bodies -----------------------------------------------------------------------------


def orjson_message(raw: bytes) -> str:
    with pytest.raises(orjson.JSONDecodeError) as info:
        orjson.loads(raw)
    return str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"{bad",
        b'{"model": }',
        b'{"model": "x",}',
        b"{'model': 'x'}",
        b'{"a": 1} trailing',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b'{"a": "\xff"}',
        b'{"a": "\x00"}',
        b"\xef\xbb\xbf{}",
        b"[" * 10_000 + b"]" * 10_000,
    ],
    ids=lambda raw: repr(raw[:24]),
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/complete"])
def test_malformed_json(http, raw, path):
    response = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request_error", f"The request body is not valid JSON: {orjson_message(raw)}")


def test_empty_body(http):
    response = http.post("/v1/messages", content=b"")
    expected = f"The request body is not valid JSON: {orjson_message(b'')}"
    assert expected.startswith("The request body is not valid JSON: Input is a zero-length, empty document")
    assert_error(response, 400, "invalid_request_error", expected)


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"hello"', b"42", b"-1.5", b"null", b"true", b"false"])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/complete"])
def test_json_that_is_not_an_object(http, raw, path):
    response = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request_error", "The request body must be a JSON object")


@pytest.mark.parametrize("depth", [255, 600, 1000])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_deep_but_parseable_nesting(http, depth, path):
    """Deeper than the server can write back, though within what it can read: a 400, not a 500."""
    nested = "[" * depth + "]" * depth
    raw = (
        '{"model":"claude-sonnet-4-5",' + ('"max_tokens":16,' if path == "/v1/messages" else "")
        + '"tools":[{"name":"t","input_schema":{"type":"object"}}],"messages":['
        '{"role":"user","content":"hi"},'
        '{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"t","input":{"a":' + nested + "}}]},"
        '{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]}'
    )
    response = http.post(path, content=raw)
    assert_error(response, 400, "invalid_request_error", "The request body is nested too deeply")


def test_nesting_the_server_can_write_is_served(http):
    deep = {"a": json.loads("[" * 200 + "]" * 200)}
    body = {
        **MESSAGE,
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": deep}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        ],
    }
    assert http.post("/v1/messages", json=body).status_code == 200


def test_body_at_the_limit_is_read(http):
    raw = b" " * (LIMIT - 2) + b"[]"
    response = http.post("/v1/messages/count_tokens", content=raw)
    assert_error(response, 400, "invalid_request_error", "The request body must be a JSON object")


def test_body_over_the_limit(http):
    response = http.post("/v1/messages", content=b" " * (LIMIT - 1) + b"[]")
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    assert_error(response, 413, "request_too_large", "Request exceeds the maximum size")


def test_large_content_length_refused_before_the_body(server):
    # The server answers on the header alone: only the first bytes of the body are ever sent.
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n"
        b"content-type: application/json\r\nconnection: close\r\n"
        + f"content-length: {LIMIT + 1}\r\n\r\n".encode()
        + b'{"model": "claude'
    )
    status, headers, body = raw_exchange(server.port, request)
    assert status == 413
    payload = json.loads(body)
    assert payload == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "Request exceeds the maximum size"},
        "request_id": headers["request-id"],
    }
    assert headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("headers", "status"),
    [(b"x-api-key: k\r\nanthropic-version: 2023-06-01\r\n", 413), (b"anthropic-version: 2023-06-01\r\n", 401),
     (b"x-api-key: k\r\n", 400)],
    ids=["too-large", "no-key", "no-version"],
)
def test_expect_continue_is_answered_without_the_body(server, headers, status):
    # curl sends `Expect: 100-continue` before large bodies: a request refused on its
    # headers gets its final answer at once, never a `100 Continue` invitation to upload.
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\n" + headers
        + b"expect: 100-continue\r\nconnection: close\r\n" + f"content-length: {LIMIT + 1}\r\n\r\n".encode()
    )
    got, response_headers, body = raw_exchange(server.port, request)
    assert got == status
    assert json.loads(body)["request_id"] == response_headers["request-id"]


def test_chunked_body_over_the_limit(http):
    def chunks() -> Iterator[bytes]:
        for _ in range(32):
            yield b" " * MB
        yield b"{}"  # one byte too many ... and one more

    response = http.post("/v1/messages", content=chunks())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "request_too_large", "Request exceeds the maximum size")


def test_chunked_body_within_the_limit(http):
    def chunks() -> Iterator[bytes]:
        raw = json.dumps(MESSAGE).encode()
        for i in range(0, len(raw), 7):
            yield raw[i : i + 7]

    response = http.post("/v1/messages", content=chunks())
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


def test_sdk_body_over_the_limit(client):
    with pytest.raises(anthropic.RequestTooLargeError) as info:
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x" * LIMIT}])
    assert info.value.status_code == 413
    assert info.value.type == "request_too_large"
    assert info.value.request_id == info.value.body["request_id"]


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3", b"12abc", b"0x10", b"99999999999999999999999999"])
def test_lying_content_length(server, value):
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n"
        b"connection: close\r\ncontent-length: " + value + b"\r\n\r\n{}"
    )
    status, _, _ = raw_exchange(server.port, request)
    # The HTTP parser in front of the app may refuse it before the app sees it; never a 500.
    assert 400 <= status < 500


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "", " 2", "²"])
def test_edge_refuses_a_malformed_content_length(value):
    """Behind an HTTP server that passes the header through, the edge answers with the envelope."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(Settings()))
        async with httpx.AsyncClient(transport=transport, base_url="http://dateline") as asgi:
            request = asgi.build_request("POST", "/v1/messages", headers={**dict(AUTH), **dict(V)}, content=b"{}")
            request.headers["content-length"] = value
            return await asgi.send(request)

    response = asyncio.run(go())
    assert_error(response, 400, "invalid_request_error", "Invalid content-length header")


# --- backend failures -------------------------------------------------------------------


class Scripted(Backend):
    """A backend that answers like a model, or fails where the last user turn says.

    The turn reads ``<error> <when>``: ``<error>`` names a class in
    ``dateline.errors`` or is ``RuntimeError``; ``<when>`` is ``before`` (before
    the first event) or ``after`` (after a few events have gone out).
    """

    name = "scripted"
    SECRET = "secret detail /srv/dateline/keys.txt"

    def _script(self, request: dict[str, Any]) -> tuple[BaseException | None, str]:
        content = request["messages"][-1]["content"]
        text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
        words = text.split()
        if len(words) != 2 or words[1] not in ("before", "after"):
            return None, ""
        name, when = words
        if name == "RuntimeError":
            return RuntimeError(self.SECRET), when
        error_class = getattr(errors, name)
        headers = {"RateLimitError": {"retry-after": "7"}, "ConflictError": {"retry-after-ms": "10"}}.get(name)
        return error_class(headers=headers), when

    async def messages(self, request: dict[str, Any], *, stream: bool):
        error, when = self._script(request)
        if error is not None and when == "before":
            raise error
        usage = {"input_tokens": 5, "output_tokens": 1}
        yield Event("message_start", {"type": "message_start", "message": {
            "id": "msg_011CTest00000000000000", "type": "message", "role": "assistant", "model": request["model"],
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}})
        yield Event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        yield Event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": "Hello"}})
        if error is not None:
            raise error
        yield Event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield Event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": 1}})
        yield Event("message_stop", {"type": "message_stop"})

    async def count_tokens(self, request: dict[str, Any]) -> int:
        error, _ = self._script(request)
        if error is not None:
            raise error
        return 5


@pytest.fixture(scope="module")
def scripted() -> Iterator[ServerThread]:
    with ServerThread(Settings(), backend=Scripted()) as running:
        yield running


@pytest.fixture(scope="module")
def scripted_http(scripted) -> Iterator[httpx.Client]:
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=scripted.base_url, headers=headers, timeout=30) as raw:
        yield raw


@pytest.fixture(scope="module")
def scripted_sdk(scripted) -> Iterator[anthropic.Anthropic]:
    with sdk(scripted.base_url) as client:
        yield client


def turn(text: str, **extra: Any) -> dict[str, Any]:
    return {**MESSAGE, "messages": [{"role": "user", "content": text}], **extra}


def test_scripted_backend_answers(scripted_http, scripted_sdk):
    assert scripted_http.post("/v1/messages", json=turn("Hi")).json()["content"] == [{"type": "text", "text": "Hello"}]
    with scripted_sdk.messages.stream(**turn("Hi")) as stream:
        assert stream.get_final_message().content[0].text == "Hello"


def dateline_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dateline" and r.levelno >= logging.ERROR]


@pytest.mark.parametrize("stream", [False, True])
def test_unexpected_exception_is_a_500(scripted_http, caplog, stream):
    caplog.set_level(logging.ERROR, logger="dateline")
    response = scripted_http.post("/v1/messages", json=turn("RuntimeError before", stream=stream))
    body = assert_error(response, 500, "api_error", "Internal server error")
    assert Scripted.SECRET not in response.text and "RuntimeError" not in response.text
    logged = [r for r in dateline_errors(caplog) if body["request_id"] in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], RuntimeError)
    assert Scripted.SECRET in str(logged[0].exc_info[1])


def test_unexpected_exception_in_count_tokens(scripted_http, caplog):
    caplog.set_level(logging.ERROR, logger="dateline")
    body = {**COUNT, "messages": turn("RuntimeError before")["messages"]}
    response = scripted_http.post("/v1/messages/count_tokens", json=body)
    body = assert_error(response, 500, "api_error", "Internal server error")
    assert any(body["request_id"] in r.getMessage() for r in dateline_errors(caplog))


def test_sdk_sees_an_internal_server_error(scripted_sdk):
    with pytest.raises(anthropic.InternalServerError) as info:
        scripted_sdk.messages.create(**turn("RuntimeError before"))
    assert info.value.status_code == 500
    assert info.value.type == "api_error"
    assert info.value.request_id == info.value.body["request_id"]


def test_failure_mid_stream_is_an_error_event(scripted_http, caplog):
    caplog.set_level(logging.ERROR, logger="dateline")
    response = scripted_http.post("/v1/messages", json=turn("RuntimeError after", stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    rid = assert_request_id(response)
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert json.loads(events[-1][1]) == {
        "type": "error",
        "error": {"type": "api_error", "message": "Internal server error"},
        "request_id": rid,
    }
    assert Scripted.SECRET not in response.text
    assert any(rid in r.getMessage() and r.exc_info for r in dateline_errors(caplog))


def test_api_error_mid_stream_keeps_its_type(scripted_http):
    response = scripted_http.post("/v1/messages", json=turn("OverloadedError after", stream=True))
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[-1][0] == "error"
    assert "message_stop" not in [name for name, _ in events]
    assert json.loads(events[-1][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": response.headers["request-id"],
    }


def test_sdk_stream_helper_raises_on_the_error_event(scripted_sdk):
    with pytest.raises(anthropic.APIStatusError) as info:
        with scripted_sdk.messages.stream(**turn("OverloadedError after")) as stream:
            stream.get_final_message()
    exc = info.value
    assert exc.status_code == 200  # the stream had started
    assert exc.type == "overloaded_error"
    assert exc.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert exc.request_id is not None and exc.request_id == exc.body["request_id"]


def test_sdk_raw_stream_raises_on_the_error_event(scripted_sdk):
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for event in scripted_sdk.messages.create(**turn("OverloadedError after"), stream=True):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start", "content_block_delta"]
    assert info.value.type == "overloaded_error"


def test_failure_mid_completion_stream(scripted_http):
    body = {**COMPLETION, "prompt": "\n\nHuman: OverloadedError after\n\nAssistant:", "stream": True}
    response = scripted_http.post("/v1/complete", json=body)
    assert response.status_code == 200
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["completion", "error"]
    assert json.loads(events[-1][1])["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_failure_mid_legacy_completion_stream(scripted_http):
    body = {**COMPLETION, "prompt": "\n\nHuman: OverloadedError after\n\nAssistant:", "stream": True}
    response = scripted_http.post("/v1/complete", json=body, headers={"anthropic-version": "2023-01-01"})
    assert response.status_code == 200
    events = sse_events(response.text)
    # Data-only, as every 2023-01-01 event; and a stream cut short never says [DONE].
    assert [name for name, _ in events] == [None, None]
    assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"
    assert "[DONE]" not in response.text


@pytest.mark.parametrize("stream", [False, True])
def test_failure_before_the_first_event_is_a_plain_error(scripted_http, stream):
    response = scripted_http.post("/v1/messages", json=turn("OverloadedError before", stream=stream))
    assert_error(response, 529, "overloaded_error", "Overloaded")


def test_sdk_overloaded_before_the_stream(scripted_sdk):
    with pytest.raises(anthropic.OverloadedError) as info:
        with scripted_sdk.messages.stream(**turn("OverloadedError before")) as stream:
            stream.get_final_message()
    assert info.value.status_code == 529
    assert info.value.request_id == info.value.body["request_id"]


# (error class, status, SDK exception, x-should-retry)
ERROR_TABLE = [
    ("InvalidRequestError", 400, anthropic.BadRequestError, "false"),
    ("AuthenticationError", 401, anthropic.AuthenticationError, "false"),
    ("BillingError", 402, anthropic.APIStatusError, "false"),
    ("PermissionError", 403, anthropic.PermissionDeniedError, "false"),
    ("NotFoundError", 404, anthropic.NotFoundError, "false"),
    ("ConflictError", 409, anthropic.ConflictError, "true"),
    ("RequestTooLargeError", 413, anthropic.RequestTooLargeError, "false"),
    ("RateLimitError", 429, anthropic.RateLimitError, "true"),
    ("InternalServerError", 500, anthropic.InternalServerError, "true"),
    ("TimeoutError", 504, anthropic.InternalServerError, "true"),
    ("OverloadedError", 529, anthropic.OverloadedError, "true"),
]


def test_error_table_covers_every_error_type():
    assert {getattr(errors, name).type for name, *_ in ERROR_TABLE} == set(errors.ERROR_TYPES)


@pytest.mark.parametrize(("name", "status", "sdk_error", "retry"), ERROR_TABLE, ids=[row[0] for row in ERROR_TABLE])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_backend_errors_keep_status_type_and_retry_hint(
    scripted_http, scripted_sdk, name, status, sdk_error, retry, path
):
    error_class = getattr(errors, name)
    messages = turn(f"{name} before")["messages"]
    body = {**COUNT, "messages": messages} if path.endswith("count_tokens") else turn(f"{name} before")
    response = scripted_http.post(path, json=body)
    assert_error(response, status, error_class.type, error_class.default_message)
    assert response.headers["x-should-retry"] == retry
    if name == "RateLimitError":
        assert response.headers["retry-after"] == "7"

    with pytest.raises(sdk_error) as info:
        if path.endswith("count_tokens"):
            scripted_sdk.messages.count_tokens(**body)
        else:
            scripted_sdk.messages.create(**body)
    assert info.value.status_code == status
    assert info.value.type == error_class.type
    assert info.value.request_id == info.value.body["request_id"]


def test_sdk_obeys_the_retry_hint(scripted):
    # One retry allowed: a 409 (hint true) is sent twice, a 400 (hint false) once.
    with anthropic.Anthropic(base_url=scripted.base_url, api_key="k", max_retries=1) as client:
        with pytest.raises(anthropic.ConflictError) as conflict:
            client.messages.create(**turn("ConflictError before"))
        with pytest.raises(anthropic.BadRequestError) as bad:
            client.messages.create(**turn("InvalidRequestError before"))
    assert conflict.value.response.request.headers["x-stainless-retry-count"] == "1"
    assert bad.value.response.request.headers["x-stainless-retry-count"] == "0"


# --- request ids ------------------------------------------------------------------------


def test_every_kind_of_response_has_a_request_id(http, client):
    responses = [
        http.post("/v1/messages", json=MESSAGE),
        http.post("/v1/messages", json={**MESSAGE, "stream": True}),
        http.post("/v1/complete", json={**COMPLETION, "stream": True}),
        http.post("/v1/messages/count_tokens", json=COUNT),
        http.get("/v1/models"),
        http.get("/v1/models/claude-sonnet-4-5"),
        http.get("/v1/models/no-such-model"),
        http.post("/v1/messages", json={**MESSAGE, "model": "no-such-model"}),
        http.post("/v1/messages", json={"model": MODEL}),
        http.get("/v1/messages"),
        http.get("/nowhere"),
        http.head("/"),
    ]
    ids = [assert_request_id(r) for r in responses]
    assert len(set(ids)) == len(ids)
    raw = client.messages.with_raw_response.create(**MESSAGE)
    assert raw.request_id is not None and raw.request_id.startswith("req_")
    assert raw.parse().type == "message"
