"""The admin API under ``/_dateline/`` over real HTTP: reading, loading and
resetting rules, the request log's routes, the admin token, and that none of
it gets in the way of the Claude API's own paths and keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
import yaml
from conftest import ServerThread

from dateline import Settings

MODEL = "claude-sonnet-4-5"
MESSAGE: dict[str, Any] = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "Hello there"}]}
CLAUDE = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
REQUEST_ID = re.compile(r"^req_011C[0-9A-Za-z]{20}$")
RULES = [
    {"name": "hello", "match": {"last_user": "Hello", "model": "claude-*"}, "reply": {"text": "Hi!"}, "times": 3},
    {"name": "busy", "match": {"endpoint": "complete"}, "fault": {"error": "overloaded_error", "retry_after": 2}},
]
#: (method, path) of every admin route
ROUTES = [
    ("GET", "/_dateline/rules"),
    ("PUT", "/_dateline/rules"),
    ("POST", "/_dateline/rules"),
    ("DELETE", "/_dateline/rules"),
    ("GET", "/_dateline/requests"),
    ("DELETE", "/_dateline/requests"),
]


@pytest.fixture(scope="module")
def guarded() -> Iterator[ServerThread]:
    with ServerThread(Settings(admin_token="t", api_keys=["sk-ant-real"])) as running:
        yield running


def assert_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    rid = response.headers["request-id"]
    assert REQUEST_ID.fullmatch(rid)
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type and body["request_id"] == rid
    return body["error"]["message"]


def hello(base_url: str) -> str:
    response = httpx.post(f"{base_url}/v1/messages", json=MESSAGE, headers=CLAUDE, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["content"][0]["text"]


# --- rules --------------------------------------------------------------------------------------


def test_no_rules_at_first(admin: httpx.Client):
    response = admin.get("/_dateline/rules")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(response.headers["request-id"])
    assert response.json() == {"rules": []}


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_load_read_and_reset_rules(admin: httpx.Client, served: ServerThread, method: str):
    response = admin.request(method, "/_dateline/rules", json={"rules": RULES})
    assert response.status_code == 200, response.text
    described = response.json()["rules"]
    assert [(r["name"], r["hits"]) for r in described] == [("hello", 0), ("busy", 0)]
    assert described[0]["match"] == {"last_user": "Hello", "model": "claude-*"}
    assert described[1]["fault"] == {"error": "overloaded_error", "retry_after": 2}
    assert hello(served.base_url) == "Hi!"
    assert [r["hits"] for r in admin.get("/_dateline/rules").json()["rules"]] == [1, 0]
    response = admin.delete("/_dateline/rules")
    assert response.status_code == 200 and response.json() == {"rules": []}
    assert hello(served.base_url) != "Hi!"


def test_yaml_by_default_json_by_content_type(admin: httpx.Client):
    as_yaml = admin.put("/_dateline/rules", content=yaml.safe_dump(RULES), headers={"content-type": "text/plain"})
    assert as_yaml.status_code == 200, as_yaml.text
    as_json = admin.put("/_dateline/rules", json=RULES)
    assert as_json.status_code == 200 and as_json.json() == as_yaml.json()
    # JSON sent as JSON is read as JSON: its error says so.
    message = assert_error(admin.put("/_dateline/rules", content=b"[{", headers={"content-type": "application/json"}), 400, "invalid_request_error")
    assert "not valid JSON" in message


def test_bad_rules_are_a_400_naming_rule_and_field(admin: httpx.Client, served: ServerThread):
    admin.put("/_dateline/rules", json=RULES)
    bad = [RULES[0], {"name": "late", "fault": {"error": "overloaded_error", "first_token_delay": -1}}]
    message = assert_error(admin.put("/_dateline/rules", json=bad), 400, "invalid_request_error")
    assert message.startswith("rule 2 ('late'), field 'fault.first_token_delay': ")
    # The rules loaded before stay in force.
    assert [r["name"] for r in admin.get("/_dateline/rules").json()["rules"]] == ["hello", "busy"]
    unserialisable = b"- reply: {tool_use: [{name: f, input: {data: !!binary aGk=}}]}\n"
    for body in (b"\x80abc", b"rules: {", b"- 1\n- 2\n", b"[]]", unserialisable, b"!!python/object:os.system ls"):
        assert_error(admin.put("/_dateline/rules", content=body), 400, "invalid_request_error")
    assert [r["name"] for r in admin.get("/_dateline/rules").json()["rules"]] == ["hello", "busy"]


def test_an_empty_body_clears_the_rules(admin: httpx.Client):
    admin.put("/_dateline/rules", json=RULES)
    response = admin.put("/_dateline/rules", content=b"")
    assert response.status_code == 200 and response.json() == {"rules": []}


# --- the request log's routes -----------------------------------------------------------------------


def test_requests_read_and_clear(admin: httpx.Client, served: ServerThread):
    admin.delete("/_dateline/requests")
    hello(served.base_url)
    data = admin.get("/_dateline/requests").json()["data"]
    assert len(data) == 1 and data[0]["status"] == 200
    assert admin.delete("/_dateline/requests").json() == {"data": []}
    assert admin.get("/_dateline/requests").json() == {"data": []}


# --- paths ----------------------------------------------------------------------------------------


def test_admin_routes_need_no_api_key_or_version(admin: httpx.Client):
    for method, path in ROUTES:
        response = admin.request(method, path, content=b"" if method in ("PUT", "POST") else None)
        assert response.status_code == 200, (method, path, response.text)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/_dateline/nothing", 404),
        ("GET", "/_dateline/ui/nothing", 404),
        ("GET", "/v1/_dateline/rules", 404),
        ("PATCH", "/_dateline/rules", 405),
        ("PUT", "/_dateline/requests", 405),
    ],
)
def test_unknown_admin_paths_and_methods(admin: httpx.Client, method: str, path: str, status: int):
    assert_error(admin.request(method, path), status, "not_found_error" if status == 404 else "invalid_request_error")


def test_claude_paths_are_untouched(served: ServerThread, admin: httpx.Client):
    admin.put("/_dateline/rules", json=[{"reply": {"text": "Scripted."}}])
    with anthropic.Anthropic(base_url=served.base_url, api_key="sk-ant-test", max_retries=0,
                             _strict_response_validation=True) as client:
        assert client.models.list().data
        assert client.messages.create(**MESSAGE).content[0].text == "Scripted."
    # A Claude path still wants its version and key, admin headers or not.
    response = httpx.post(f"{served.base_url}/v1/messages", json=MESSAGE, headers={"x-dateline-admin-token": "t"})
    assert_error(response, 401, "authentication_error")


# --- the admin token ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"x-dateline-admin-token": "wrong"}, {"authorization": "Bearer wrong"}, {"authorization": "t"},
     {"x-api-key": "sk-ant-real"}, {"x-dateline-admin-token": ""}],
    ids=["none", "wrong-header", "wrong-bearer", "no-scheme", "api-key", "empty"],
)
def test_the_admin_token_refuses(guarded: ServerThread, method: str, path: str, headers: dict[str, str]):
    response = httpx.request(method, guarded.base_url + path, headers=headers, content=b"- reply: {text: x}\n" if method in ("PUT", "POST") else None)
    assert assert_error(response, 401, "authentication_error") == "invalid admin token"


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("headers", [{"x-dateline-admin-token": "t"}, {"authorization": "Bearer t"}, {"authorization": "bearer  t"}])
def test_the_admin_token_accepts(guarded: ServerThread, method: str, path: str, headers: dict[str, str]):
    response = httpx.request(method, guarded.base_url + path, headers=headers, content=b"" if method in ("PUT", "POST") else None)
    assert response.status_code == 200, response.text


def test_the_admin_token_is_not_an_api_key(guarded: ServerThread):
    # Each door has its own key: the admin token does not open the Claude API.
    with anthropic.Anthropic(base_url=guarded.base_url, api_key="t", max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError):
            client.messages.create(**MESSAGE)
    with anthropic.Anthropic(base_url=guarded.base_url, api_key="sk-ant-real", max_retries=0,
                             _strict_response_validation=True) as client:
        assert client.messages.create(**MESSAGE).content
    # A rule loaded with the token answers the Claude API.
    response = httpx.put(f"{guarded.base_url}/_dateline/rules", json=[{"reply": {"text": "Guarded."}}],
                         headers={"authorization": "Bearer t"})
    assert response.status_code == 200
    try:
        response = httpx.post(f"{guarded.base_url}/v1/messages", json=MESSAGE,
                              headers={**CLAUDE, "x-api-key": "sk-ant-real"})
        assert response.json()["content"][0]["text"] == "Guarded."
    finally:
        httpx.delete(f"{guarded.base_url}/_dateline/rules", headers={"x-dateline-admin-token": "t"})
