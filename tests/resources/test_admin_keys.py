"""``/_dateline/keys`` over real HTTP: making a key (its secret shown once),
listing and paging, showing, changing with a merge patch, revoking, the
admin token's guard, and bad input answered with the API's error envelope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ServerThread

KEY_ID = re.compile(r"^apikey_011C[0-9A-Za-z]{20}$")
HINT = re.compile(r"^sk-ant-api03-[A-Za-z0-9_-]{3}\.\.\.[A-Za-z0-9_-]{2}AA$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
REQUEST_ID = re.compile(r"^req_011C[0-9A-Za-z]{20}$")
FIELDS = {
    "type", "id", "name", "partial_key_hint", "workspace_id", "status", "created_at", "last_used_at", "revoked_at",
    "rate_limits", "model_rate_limits", "unified_limits", "allowed_models", "spend_limit", "default_version",
    "accepted_versions",
}  # fmt: skip
MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def admin(tmp_path) -> Iterator[httpx.Client]:
    with ServerThread(data_dir=str(tmp_path)) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def created(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    response = admin.post("/_dateline/keys", json={"name": "k", **body})
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert REQUEST_ID.fullmatch(body["request_id"]) and body["request_id"] == response.headers["request-id"]
    return body["error"]["message"]


def test_a_new_key_shows_its_secret_once(admin):
    key = created(
        admin,
        name="ci",
        workspace_id="wrkspc_01",
        rate_limits={"requests_per_minute": 50, "input_tokens_per_minute": 30000},
        model_rate_limits={"claude-opus-*": {"requests_per_minute": 5}},
        unified_limits={"five_hour": 100000},
        allowed_models=["claude-*"],
        spend_limit=25,
        default_version="2023-06-01",
        accepted_versions=["2023-06-01", "2026-10-21"],
    )
    secret = key.pop("secret")
    assert set(key) == FIELDS
    assert KEY_ID.fullmatch(key["id"]) and HINT.fullmatch(key["partial_key_hint"])
    assert key["partial_key_hint"] == f"{secret[:16]}...{secret[-4:]}"
    assert (key["type"], key["name"], key["workspace_id"], key["status"]) == ("api_key", "ci", "wrkspc_01", "active")
    assert STAMP.fullmatch(key["created_at"]) and key["last_used_at"] is None and key["revoked_at"] is None
    assert key["rate_limits"] == {
        "requests_per_minute": 50,
        "input_tokens_per_minute": 30000,
        "output_tokens_per_minute": None,
    }
    assert key["model_rate_limits"]["claude-opus-*"]["requests_per_minute"] == 5
    assert key["unified_limits"] == {"five_hour": 100000, "seven_day": None}
    assert key["spend_limit"] == 25.0 and key["default_version"] == "2023-06-01"
    shown = admin.get(f"/_dateline/keys/{key['id']}")
    assert shown.status_code == 200 and shown.json() == key  # the same object, never the secret again
    assert secret not in admin.get("/_dateline/keys").text


def test_defaults_of_a_plain_key(admin):
    key = created(admin)
    assert key["rate_limits"] == dict.fromkeys(
        ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute")
    )
    assert key["model_rate_limits"] == {} and key["allowed_models"] is None and key["spend_limit"] is None
    assert key["unified_limits"] is None
    assert key["default_version"] is None and key["accepted_versions"] is None and key["workspace_id"] is None


def test_the_list_pages_newest_first_and_filters(admin):
    ids = [created(admin, name=f"k{i}", workspace_id="w" if i % 2 else None)["id"] for i in range(5)]
    page = admin.get("/_dateline/keys", params={"limit": 2}).json()
    assert [k["id"] for k in page["data"]] == ids[::-1][:2] and page["has_more"]
    assert page["first_id"] == ids[4] and page["last_id"] == ids[3]
    rest = admin.get("/_dateline/keys", params={"after_id": page["last_id"]}).json()
    assert [k["id"] for k in rest["data"]] == ids[::-1][2:] and not rest["has_more"]
    back = admin.get("/_dateline/keys", params={"before_id": ids[1], "limit": 1}).json()
    assert [k["id"] for k in back["data"]] == [ids[2]] and back["has_more"]
    assert [k["id"] for k in admin.get("/_dateline/keys", params={"workspace_id": "w"}).json()["data"]] == [
        ids[3],
        ids[1],
    ]
    admin.delete(f"/_dateline/keys/{ids[0]}")
    revoked = admin.get("/_dateline/keys", params={"status": "revoked"}).json()["data"]
    active = admin.get("/_dateline/keys", params={"status": "active"}).json()["data"]
    assert [k["id"] for k in revoked] == [ids[0]] and len(active) == 4


def test_a_merge_patch_changes_only_what_it_names(admin):
    key = created(admin, rate_limits={"requests_per_minute": 50}, allowed_models=["claude-*"], spend_limit=5)
    path = f"/_dateline/keys/{key['id']}"
    changed = admin.patch(path, json={"name": "renamed", "rate_limits": {"output_tokens_per_minute": 8000}})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "renamed" and body["allowed_models"] == ["claude-*"] and body["spend_limit"] == 5
    assert body["rate_limits"]["requests_per_minute"] == 50 and body["rate_limits"]["output_tokens_per_minute"] == 8000
    cleared = admin.patch(path, json={"spend_limit": None, "rate_limits": {"requests_per_minute": None}}).json()
    assert cleared["spend_limit"] is None and cleared["rate_limits"]["requests_per_minute"] is None
    assert cleared["rate_limits"]["output_tokens_per_minute"] == 8000
    classes = admin.patch(
        path, json={"model_rate_limits": {"a-*": {"requests_per_minute": 1}, "b-*": {"requests_per_minute": 2}}}
    )
    assert list(classes.json()["model_rate_limits"]) == ["a-*", "b-*"]
    fewer = admin.patch(path, json={"model_rate_limits": {"a-*": None}}).json()
    assert list(fewer["model_rate_limits"]) == ["b-*"]
    assert admin.get(path).json() == fewer


def test_revoking_is_for_good_and_refuses_the_key(admin):
    key = created(admin)
    headers = {"x-api-key": key["secret"], "anthropic-version": "2023-06-01"}
    assert admin.post("/v1/messages", json=MESSAGE, headers=headers).status_code == 200
    shown = admin.get(f"/_dateline/keys/{key['id']}").json()
    assert shown["last_used_at"] is not None  # known to the process at once, written later
    revoked = admin.delete(f"/_dateline/keys/{key['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and STAMP.fullmatch(revoked.json()["revoked_at"])
    assert admin.post("/v1/messages", json=MESSAGE, headers=headers).status_code == 401
    again = admin.delete(f"/_dateline/keys/{key['id']}").json()
    assert again["revoked_at"] == revoked.json()["revoked_at"]
    # A revoked key's name may change; it stays revoked.
    renamed = admin.patch(f"/_dateline/keys/{key['id']}", json={"name": "old"}).json()
    assert renamed["status"] == "revoked" and renamed["name"] == "old"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "name: Field required"),
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"name": 5}, "name: Input should be a valid string"),
        ({"name": "k", "secret": "mine"}, "secret: Extra inputs are not permitted"),
        (
            {"name": "k", "rate_limits": {"requests_per_minute": 0}},
            "rate_limits.requests_per_minute: Input should be greater than or equal to 1",
        ),
        (
            {"name": "k", "rate_limits": {"requests_per_minute": "5"}},
            "rate_limits.requests_per_minute: Input should be a valid integer",
        ),
        ({"name": "k", "rate_limits": {"rpm": 5}}, "rate_limits.rpm: Extra inputs are not permitted"),
        (
            {"name": "k", "model_rate_limits": {"": {}}},
            "model_rate_limits: '' is no model glob (give 1 to 256 characters)",
        ),
        (
            {"name": "k", "unified_limits": {"five_hour": 0}},
            "unified_limits.five_hour: Input should be greater than or equal to 1",
        ),
        ({"name": "k", "allowed_models": "claude-*"}, "allowed_models: Input should be a valid list"),
        ({"name": "k", "spend_limit": -1}, "spend_limit: Input should be greater than or equal to 0"),
        ({"name": "k", "default_version": "2024-01-01"}, 'default_version: "2024-01-01" is not a valid version'),
        (
            {"name": "k", "accepted_versions": []},
            "accepted_versions: List should have at least 1 item after validation, not 0",
        ),
        ({"name": "k", "accepted_versions": ["2023-06-01", "x"]}, 'accepted_versions.1: "x" is not a valid version'),
        (
            {"name": "k", "default_version": "2023-01-01", "accepted_versions": ["2023-06-01"]},
            'default_version: "2023-01-01" is not one of the accepted_versions (2023-06-01)',
        ),
    ],
)
def test_bad_keys_are_refused_with_the_envelope(admin, body, message):
    assert assert_error(admin.post("/_dateline/keys", json=body), 400, "invalid_request_error") == message


def test_bad_bodies_cursors_and_ids(admin):
    assert assert_error(admin.post("/_dateline/keys", content=b"{"), 400, "invalid_request_error").startswith(
        "The request body is not valid JSON"
    )
    assert assert_error(admin.post("/_dateline/keys", json=[1]), 400, "invalid_request_error") == (
        "The request body must be a JSON object"
    )
    key = created(admin, default_version="2023-06-01")
    path = f"/_dateline/keys/{key['id']}"
    message = assert_error(admin.patch(path, json={"accepted_versions": ["2026-10-21"]}), 400, "invalid_request_error")
    assert message == 'default_version: "2023-06-01" is not one of the accepted_versions (2026-10-21)'
    assert admin.get(path).json()["accepted_versions"] is None  # nothing changed
    assert assert_error(admin.patch(path, json={"status": "active"}), 400, "invalid_request_error") == (
        "status: Extra inputs are not permitted"
    )
    assert assert_error(admin.patch(path, json={"name": ""}), 400, "invalid_request_error")
    assert assert_error(admin.patch(path, json={"name": None}), 400, "invalid_request_error") == "name: Field required"
    for method in ("GET", "PATCH", "DELETE"):
        response = admin.request(method, "/_dateline/keys/apikey_nope", json={} if method == "PATCH" else None)
        assert assert_error(response, 404, "not_found_error") == "No API key with id apikey_nope"
    assert assert_error(
        admin.get("/_dateline/keys", params={"after_id": "apikey_nope"}), 400, "invalid_request_error"
    ) == ("after_id: no API key with id apikey_nope")
    assert assert_error(admin.get("/_dateline/keys", params={"limit": 0}), 400, "invalid_request_error")
    assert assert_error(admin.get("/_dateline/keys", params={"status": "archived"}), 400, "invalid_request_error") == (
        "status: Input should be 'active' or 'revoked'"
    )
    assert assert_error(admin.put("/_dateline/keys"), 405, "invalid_request_error")


def test_the_admin_token_guards_the_keys(tmp_path):
    with ServerThread(data_dir=str(tmp_path), admin_token="t") as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            assert assert_error(client.post("/_dateline/keys", json={"name": "k"}), 401, "authentication_error")
            assert assert_error(client.get("/_dateline/keys"), 401, "authentication_error")
            made = client.post("/_dateline/keys", json={"name": "k"}, headers={"x-dateline-admin-token": "t"})
            assert made.status_code == 200
            listed = client.get("/_dateline/keys", headers={"authorization": "Bearer t"})
            assert [k["id"] for k in listed.json()["data"]] == [made.json()["id"]]
            # An API key is no admin token, even a live one.
            secret = made.json()["secret"]
            assert assert_error(
                client.get("/_dateline/keys", headers={"x-api-key": secret}), 401, "authentication_error"
            )
