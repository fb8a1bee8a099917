"""A workspace's rate limits at the edge, the limiter in memory and on Redis: the keys of
a workspace share its buckets beside their own, the tighter one refuses (429 naming the
workspace's limit, ``retry-after``) and shows in the headers; a change through the admin
API applies to the next request; batches draw on the workspace's batch buckets, apart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from itertools import cycle
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread

BODY: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
OWN = {"rate_limits": {"requests_per_minute": 100}}


@pytest.fixture(scope="module", params=["memory", "redis"])
def served(request, tmp_path_factory) -> Iterator[ServerThread]:
    options = {"redis_url": request.getfixturevalue("redis_server").url} if request.param == "redis" else {}
    with ServerThread(data_dir=str(tmp_path_factory.mktemp("workspaces")), **options) as server:
        yield server


def workspace(server: ServerThread, **rates: int) -> str:
    """A workspace of its own for the test, with these limits."""
    name = f"wrkspc_{uuid.uuid4().hex[:16]}"  # buckets on a Redis other tests share: names of its own
    put(server, name, rates)
    return name


def put(server: ServerThread, name: str, rates: dict[str, int]) -> dict[str, Any]:
    response = httpx.put(f"{server.base_url}/_dateline/workspaces/{name}", json={"rate_limits": rates}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def make_key(server: ServerThread, space: str | None, **settings: Any) -> str:
    body = {"name": "k", **({"workspace_id": space} if space else {}), **settings}
    response = httpx.post(f"{server.base_url}/_dateline/keys", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def post(server: ServerThread, secret: str, body: dict[str, Any] = BODY, path: str = "/v1/messages") -> httpx.Response:
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=30)


def test_two_keys_share_their_workspace_s_requests(served: ServerThread) -> None:
    space = workspace(served, requests_per_minute=5)
    first, second = make_key(served, space, **OWN), make_key(served, space, **OWN)
    answers = [post(served, secret) for secret, _ in zip(cycle([first, second]), range(5))]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers["anthropic-ratelimit-requests-remaining"] for a in answers] == ["4", "3", "2", "1", "0"]
    client = anthropic.Anthropic(base_url=served.base_url, api_key=second, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(**BODY)
    error = refused.value
    assert error.status_code == 429 and error.body["error"]["type"] == "rate_limit_error"
    assert error.body["error"]["message"].startswith(
        f"This request would exceed your workspace's rate limit of 5 requests per minute (workspace: {space}, "
        "model: claude-sonnet-4-5)."
    )
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["anthropic-ratelimit-requests-limit"] == "5"
    # A key of another workspace, and one of none, are not held to it.
    assert post(served, make_key(served, workspace(served, requests_per_minute=5), **OWN)).status_code == 200
    assert post(served, make_key(served, None, **OWN)).status_code == 200


async def flood(base_url: str, secrets: list[str], count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=count)) as client:
        return await asyncio.gather(
            *(
                client.post("/v1/messages", json=BODY, headers={"x-api-key": secret, "anthropic-version": "2023-06-01"})
                for secret, _ in zip(cycle(secrets), range(count))
            )
        )


def test_exactly_the_workspace_s_limit_of_concurrent_requests_over_three_keys(served: ServerThread) -> None:
    space = workspace(served, requests_per_minute=10)
    secrets = [make_key(served, space, **OWN) for _ in range(3)]
    statuses = [a.status_code for a in asyncio.run(flood(served.base_url, secrets, 60))]
    assert statuses.count(200) == 10 and statuses.count(429) == 50


def test_the_headers_show_the_tighter_of_key_and_workspace(served: ServerThread) -> None:
    rates = {"requests_per_minute": 10, "input_tokens_per_minute": 50_000, "output_tokens_per_minute": 400_000}
    space = workspace(served, **rates)
    own = {"requests_per_minute": 3, "input_tokens_per_minute": 200_000, "output_tokens_per_minute": 8_000}
    answer = post(served, make_key(served, space, rate_limits=own))
    assert answer.status_code == 200, answer.text
    shown = {
        name: answer.headers[f"anthropic-ratelimit-{name}-limit"]
        for name in ("requests", "input-tokens", "output-tokens", "tokens")
    }
    # Requests and output: the key's; input: the workspace's; tokens: the owner with the least left.
    assert shown == {"requests": "3", "input-tokens": "50000", "output-tokens": "8000", "tokens": "208000"}
    assert answer.headers["anthropic-ratelimit-requests-remaining"] == "2"
    assert answer.headers["anthropic-ratelimit-input-tokens-remaining"] == "50000"  # to the nearest thousand


def test_a_change_through_the_admin_api_applies_to_the_next_request(served: ServerThread) -> None:
    space = workspace(served, requests_per_minute=50)
    secret = make_key(served, space, **OWN)
    assert post(served, secret).headers["anthropic-ratelimit-requests-limit"] == "50"
    put(served, space, {"requests_per_minute": 2})
    answers = [post(served, secret) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["anthropic-ratelimit-requests-limit"] == "2"
    gone = httpx.delete(f"{served.base_url}/_dateline/workspaces/{space}")
    assert gone.status_code == 200 and gone.json() == {"id": space, "type": "workspace_deleted"}
    answer = post(served, secret)
    assert answer.status_code == 200 and answer.headers["anthropic-ratelimit-requests-limit"] == "100"


def test_a_key_without_limits_of_its_own_is_held_to_its_workspace_s(served: ServerThread) -> None:
    space = workspace(served, requests_per_minute=2)
    secret = make_key(served, space)
    answers = [post(served, secret) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["anthropic-ratelimit-requests-limit"] == "2"
    bad = post(served, secret, {**BODY, "max_tokens": "many"})
    assert bad.status_code == 400 and bad.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_a_prompt_over_the_workspace_s_input_limit_is_refused_at_admission(served: ServerThread) -> None:
    space = workspace(served, input_tokens_per_minute=50)
    secret = make_key(served, space)  # no input-token limit of its own: the workspace's still counts the prompt
    long = {**BODY, "messages": [{"role": "user", "content": "word " * 200}]}
    refused = post(served, secret, long)
    assert refused.status_code == 429, refused.text
    assert "input tokens per minute" in refused.json()["error"]["message"]
    assert post(served, secret).status_code == 200  # nothing was charged for the refused prompt


def test_count_tokens_is_not_held_to_the_workspace_s_limits(served: ServerThread) -> None:
    space = workspace(served, requests_per_minute=1)
    secret = make_key(served, space, **OWN)
    count = {k: v for k, v in BODY.items() if k != "max_tokens"}
    assert [post(served, secret, count, "/v1/messages/count_tokens").status_code for _ in range(3)] == [200] * 3
    assert [post(served, secret).status_code for _ in range(2)] == [200, 429]


def test_batches_draw_on_the_workspace_s_batch_buckets_apart(served: ServerThread) -> None:
    space = workspace(served, requests_per_minute=2)
    secret = make_key(served, space, **OWN)
    assert [post(served, secret).status_code for _ in range(3)] == [200, 200, 429]
    client = anthropic.Anthropic(base_url=served.base_url, api_key=secret, max_retries=0, timeout=30)
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": BODY} for i in range(2)]  # type: ignore[list-item]
    )
    deadline = time.monotonic() + 30
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert [r.result.type for r in client.messages.batches.results(batch.id)] == ["succeeded", "succeeded"]
    # The workspace's interactive buckets are still empty: the batch drew on its batch buckets.
    assert post(served, secret).status_code == 429


# --- the admin API ---------------------------------------------------------------------------


def test_an_id_with_a_slash_is_reached_through_the_admin_api(served: ServerThread) -> None:
    base = f"{served.base_url}/_dateline/workspaces"
    name = f"team/{uuid.uuid4().hex[:8]}"  # keys may carry any id; the admin API reaches each
    made = put(served, name.replace("/", "%2F"), {"requests_per_minute": 3})
    assert made["id"] == name
    assert httpx.get(f"{base}/{name}").json() == made
    assert httpx.delete(f"{base}/{name}").json() == {"id": name, "type": "workspace_deleted"}
    assert httpx.get(f"{base}/{name}").status_code == 404


def test_the_admin_api_lists_shows_and_refuses_what_is_wrong(served: ServerThread) -> None:
    base = f"{served.base_url}/_dateline/workspaces"
    made = put(served, "wrkspc_admin", {"requests_per_minute": 7})
    assert made["type"] == "workspace" and made["id"] == "wrkspc_admin"
    assert made["rate_limits"] == {
        "requests_per_minute": 7,
        "input_tokens_per_minute": None,
        "output_tokens_per_minute": None,
    }
    assert made["created_at"].endswith("Z") and made["updated_at"] == made["created_at"]
    assert httpx.get(f"{base}/wrkspc_admin").json() == made
    newest = put(served, "wrkspc_admin_2", {"output_tokens_per_minute": 9})
    page = httpx.get(base, params={"limit": 1}).json()
    assert page["data"] == [newest] and page["has_more"] and page["first_id"] == page["last_id"] == "wrkspc_admin_2"
    after = httpx.get(base, params={"limit": 1, "after_id": "wrkspc_admin_2"}).json()
    assert after["data"] == [made]
    refusals = {
        ("PUT", "wrkspc_admin", '{"rate_limits": {}}'): (400, "rate_limits: give at least one of"),
        ("PUT", "wrkspc_admin", '{"rate_limits": {"requests_per_minute": 0}}'): (
            400,
            "rate_limits.requests_per_minute: Input should be greater than or equal to 1",
        ),
        ("PUT", "wrkspc_admin", '{"rate_limits": {"rpm": 1}}'): (
            400,
            "rate_limits.rpm: Extra inputs are not permitted",
        ),
        ("PUT", "wrkspc_admin", '{"rate_limits": {"requests_per_minute": "5"}}'): (
            400,
            "rate_limits.requests_per_minute",
        ),
        ("PUT", "wrkspc_admin", "{}"): (400, "rate_limits: Field required"),
        ("PUT", "wrkspc_admin", "[1]"): (400, "The request body must be a JSON object"),
        ("PUT", "wrkspc_admin", "{"): (400, "The request body is not valid JSON"),
        ("PUT", "w" * 129, '{"rate_limits": {"requests_per_minute": 1}}'): (
            400,
            "workspace_id: String should have at most 128 characters",
        ),
        ("GET", "wrkspc_never", None): (404, "No workspace with id wrkspc_never"),
        ("DELETE", "wrkspc_never", None): (404, "No workspace with id wrkspc_never"),
        ("POST", "wrkspc_admin", "{}"): (405, ""),
    }
    for (method, name, content), (status, message) in refusals.items():
        answer = httpx.request(method, f"{base}/{name}", content=content, timeout=30)
        assert answer.status_code == status, (method, name, content, answer.text)
        error = answer.json()["error"]
        assert error["type"] != "api_error" and message in error["message"], answer.text
    assert httpx.get(base, params={"after_id": "wrkspc_never"}).json()["error"]["message"] == (
        "after_id: no workspace with id wrkspc_never"
    )
    assert httpx.get(f"{base}/wrkspc_admin").json() == made  # nothing refused changed it


def test_the_admin_api_is_guarded_by_the_admin_token() -> None:
    with ServerThread(admin_token="s3cret") as server:
        base = f"{server.base_url}/_dateline/workspaces"
        body = {"rate_limits": {"requests_per_minute": 1}}
        assert httpx.put(f"{base}/w", json=body).status_code == 401
        assert httpx.get(base).status_code == 401
        allowed = httpx.put(f"{base}/w", json=body, headers={"authorization": "Bearer s3cret"})
        assert allowed.status_code == 200, allowed.text
