"""Message Batches over HTTP: the official SDK's round trip, the batch
object's life cycle, results lines, and every refusal with the envelope."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from conftest import ServerThread

from dateline.settings import Settings

MODEL = "claude-sonnet-4-5"


def params(text: str, **extra) -> dict:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **extra}


def wait_ended(sdk: anthropic.Anthropic, batch_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (batch := sdk.messages.batches.retrieve(batch_id)).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return batch


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["message"] == message, body
    assert body["request_id"] == response.headers["request-id"]


@pytest.fixture(scope="module")
def own() -> Iterator[ServerThread]:
    """A server whose batch list only this module fills."""
    with ServerThread() as running:
        yield running


@pytest.fixture
def sdk(own: ServerThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=own.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True
    ) as client:
        yield client


def test_a_thousand_requests_round_trip_through_the_official_sdk(sdk: anthropic.Anthropic):
    requests = [{"custom_id": f"q-{i}", "params": params(f"Tell me about tide pool number {i}")} for i in range(1000)]
    created = sdk.messages.batches.create(requests=requests)
    assert created.id.startswith("msgbatch_") and created.type == "message_batch"
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 1000 and created.ended_at is None
    assert (created.expires_at - created.created_at).total_seconds() == pytest.approx(86400)

    ended = wait_ended(sdk, created.id)
    assert ended.request_counts.model_dump() == {
        "processing": 0, "succeeded": 1000, "errored": 0, "canceled": 0, "expired": 0
    }
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    assert ended.results_url == f"{str(sdk.base_url).rstrip('/')}/v1/messages/batches/{created.id}/results"

    results = {r.custom_id: r.result for r in sdk.messages.batches.results(created.id)}
    assert len(results) == 1000
    one = results["q-7"]
    assert one.type == "succeeded" and one.message.usage.service_tier == "batch"
    # The same answer /v1/messages gives for the same request (ids aside).
    direct = sdk.messages.create(**params("Tell me about tide pool number 7"))
    assert [b.model_dump() for b in one.message.content] == [b.model_dump() for b in direct.content]
    assert one.message.usage.input_tokens == direct.usage.input_tokens


def test_an_invalid_request_inside_a_batch_is_an_errored_line(sdk: anthropic.Anthropic):
    requests = [
        {"custom_id": "fine", "params": params("Hello")},
        {"custom_id": "no-max-tokens", "params": {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}},
        {"custom_id": "unknown-model", "params": {**params("Hi"), "model": "claude-nonexistent"}},
        {"custom_id": "streams", "params": params("Hi", stream=True)},
        {"custom_id": "sampled", "params": params("Hi", temperature=0.5)},  # gone from 2026-10-21, the SDK's
    ]
    batch = wait_ended(sdk, sdk.messages.batches.create(requests=requests).id)
    assert batch.request_counts.succeeded == 1 and batch.request_counts.errored == 4
    results = {r.custom_id: r.result for r in sdk.messages.batches.results(batch.id)}
    assert results["fine"].type == "succeeded"
    errors = {k: (v.error.error.type, v.error.error.message) for k, v in results.items() if v.type == "errored"}
    assert errors == {
        "no-max-tokens": ("invalid_request_error", "max_tokens: Field required"),
        "unknown-model": ("not_found_error", "model: claude-nonexistent"),
        "streams": ("invalid_request_error", "stream: Input should be False"),
        "sampled": ("invalid_request_error", "temperature: Extra inputs are not permitted"),
    }
    assert results["no-max-tokens"].error.request_id is None


def test_results_lines_are_the_documented_json(own: ServerThread, sdk: anthropic.Anthropic):
    batch = wait_ended(sdk, sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params("Hi")}]).id)
    raw = httpx.get(batch.results_url, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert raw.status_code == 200 and raw.headers["request-id"].startswith("req_")
    lines = raw.content.splitlines()
    assert len(lines) == 1 and raw.content.endswith(b"\n")
    line = json.loads(lines[0])
    assert list(line) == ["custom_id", "result"] and line["custom_id"] == "a"
    assert line["result"]["type"] == "succeeded" and line["result"]["message"]["type"] == "message"


def test_cancel_cancels_what_has_not_started(own: ServerThread, sdk: anthropic.Anthropic):
    # Slow answers, so most of the batch is still waiting when it is canceled.
    own.script([{"match": {"endpoint": "messages"}, "fault": {"first_token_delay": 0.05}}])
    try:
        batch = sdk.messages.batches.create(
            requests=[{"custom_id": f"c{i}", "params": params(f"Item {i}")} for i in range(400)]
        )
        canceling = sdk.messages.batches.cancel(batch.id)
        assert canceling.processing_status in ("canceling", "ended")
        assert canceling.cancel_initiated_at is not None
        ended = wait_ended(sdk, batch.id)
    finally:
        own.script([])
    counts = ended.request_counts
    assert counts.canceled > 0 and counts.succeeded + counts.canceled == 400 and counts.processing == 0
    kinds = [r.result.type for r in sdk.messages.batches.results(batch.id)]
    assert kinds.count("canceled") == counts.canceled and len(kinds) == 400
    # Canceling an ended batch changes nothing.
    assert sdk.messages.batches.cancel(batch.id).request_counts == counts


def test_delete_and_results_only_once_ended(own: ServerThread, sdk: anthropic.Anthropic):
    own.script([{"match": {"endpoint": "messages"}, "fault": {"first_token_delay": 0.3}}])
    try:
        batch = sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params("Hi")}])
        with pytest.raises(anthropic.BadRequestError) as refused:
            sdk.messages.batches.delete(batch.id)
        assert refused.value.body["error"]["message"] == (
            f"Message Batch {batch.id} cannot be deleted while it is still processing; cancel it first"
        )
        assert_error(
            httpx.get(f"{own.base_url}/v1/messages/batches/{batch.id}/results",
                      headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}),
            400,
            f"Message Batch {batch.id} has not finished processing; its results are not yet available",
        )
    finally:
        own.script([])
    wait_ended(sdk, batch.id)
    deleted = sdk.messages.batches.delete(batch.id)
    assert deleted.model_dump() == {"id": batch.id, "type": "message_batch_deleted"}
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.batches.retrieve(batch.id)


def test_list_pages_newest_first(sdk: anthropic.Anthropic):
    made = [sdk.messages.batches.create(requests=[{"custom_id": "x", "params": params("Hi")}]).id for _ in range(5)]
    first = sdk.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    assert first.first_id == made[-1] and first.last_id == made[-2]
    following = sdk.messages.batches.list(limit=2, after_id=first.last_id)
    assert [b.id for b in following.data] == made[::-1][2:4]
    before = sdk.messages.batches.list(limit=2, before_id=made[0])
    assert [b.id for b in before.data] == [made[2], made[1]]
    every = [b.id for b in sdk.messages.batches.list(limit=3)]  # auto-paging, across pages
    assert every[:5] == made[::-1] and len(every) == len(set(every))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"requests": []}, "requests: List should have at least 1 item after validation, not 0"),
        ({}, "requests: Field required"),
        ({"requests": [{"params": params("Hi")}]}, "requests.0.custom_id: Field required"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
        (
            {"requests": [{"custom_id": "has space", "params": params("Hi")}]},
            "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        ),
        (
            {"requests": [{"custom_id": "a" * 65, "params": params("Hi")}]},
            "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        ),
        ({"requests": [{"custom_id": "a", "params": "Hi"}]}, "requests.0.params: Input should be a valid dictionary"),
        ({"requests": [{"custom_id": "a", "params": {}, "x": 1}]}, "requests.0.x: Extra inputs are not permitted"),
        (
            {"requests": [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}]},
            "requests.1.custom_id: Duplicate custom_id 'a'; custom_id must be unique within a Message Batch",
        ),
    ],
)
def test_malformed_batches_are_refused(http: httpx.Client, body: dict, message: str):
    assert_error(http.post("/v1/messages/batches", json=body), 400, message)


def test_too_many_requests_are_refused(http: httpx.Client):
    body = {"requests": [{"custom_id": f"r{i}", "params": {}} for i in range(100_001)]}
    assert_error(
        http.post("/v1/messages/batches", json=body),
        400,
        "requests: List should have at most 100000 items after validation, not 100001",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/messages/batches/msgbatch_nope"),
        ("POST", "/v1/messages/batches/msgbatch_nope/cancel"),
        ("DELETE", "/v1/messages/batches/msgbatch_nope"),
        ("GET", "/v1/messages/batches/msgbatch_nope/results"),
    ],
)
def test_unknown_batches_are_not_found(http: httpx.Client, method: str, path: str):
    assert_error(http.request(method, path), 404, "message_batch: msgbatch_nope")


def test_bad_list_cursors_and_limits(http: httpx.Client):
    assert_error(
        http.get("/v1/messages/batches", params={"after_id": "msgbatch_nope"}),
        400,
        "after_id: no message batch with id msgbatch_nope",
    )
    assert_error(
        http.get("/v1/messages/batches", params={"limit": 0}), 400, "limit: Input should be greater than or equal to 1"
    )


def test_results_url_follows_the_host_or_the_public_url(tmp_path):
    with ServerThread(Settings(public_url="https://claude.example.com/")) as running:
        sdk = anthropic.Anthropic(base_url=running.base_url, api_key="k", max_retries=0)
        batch = wait_ended(sdk, sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params("Hi")}]).id)
        assert batch.results_url == f"https://claude.example.com/v1/messages/batches/{batch.id}/results"
        via_host = httpx.get(
            f"{running.base_url}/v1/messages/batches/{batch.id}",
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
        assert via_host.json()["results_url"].startswith("https://claude.example.com/")


def test_results_url_names_the_host_the_client_used(own: ServerThread):
    sdk = anthropic.Anthropic(base_url=own.base_url.replace("127.0.0.1", "localhost"), api_key="k", max_retries=0)
    batch = wait_ended(sdk, sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params("Hi")}]).id)
    assert batch.results_url.startswith(f"http://localhost:{own.port}/")
    assert len(list(sdk.messages.batches.results(batch.id))) == 1


def test_an_expired_batch_ends_with_expired_lines():
    with ServerThread(Settings(batch_expiry=0.3, batch_poll_interval=0.05)) as running:
        running.script([{"match": {"endpoint": "messages"}, "fault": {"first_token_delay": 0.1}}])
        sdk = anthropic.Anthropic(base_url=running.base_url, api_key="k", max_retries=0)
        batch = sdk.messages.batches.create(requests=[{"custom_id": f"e{i}", "params": params("Hi")} for i in range(300)])
        ended = wait_ended(sdk, batch.id)
        assert ended.request_counts.expired > 0 and ended.request_counts.processing == 0
        kinds = {r.custom_id: r.result.type for r in sdk.messages.batches.results(batch.id)}
        assert len(kinds) == 300 and "expired" in kinds.values()


def test_a_scripted_fault_makes_errored_lines(own: ServerThread, sdk: anthropic.Anthropic):
    own.script([{"match": {"endpoint": "messages", "last_user": "fail me"}, "fault": {"error": "overloaded_error"}}])
    try:
        batch = sdk.messages.batches.create(
            requests=[{"custom_id": "ok", "params": params("Hi")}, {"custom_id": "bad", "params": params("fail me")}]
        )
        wait_ended(sdk, batch.id)
    finally:
        own.script([])
    results = {r.custom_id: r.result for r in sdk.messages.batches.results(batch.id)}
    assert results["ok"].type == "succeeded"
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "overloaded_error"


def test_batches_survive_a_restart(tmp_path):
    with ServerThread(Settings(data_dir=tmp_path)) as first:
        sdk = anthropic.Anthropic(base_url=first.base_url, api_key="k", max_retries=0)
        batch = wait_ended(sdk, sdk.messages.batches.create(requests=[{"custom_id": "a", "params": params("Hi")}]).id)
        before = [r.model_dump() for r in sdk.messages.batches.results(batch.id)]
    with ServerThread(Settings(data_dir=tmp_path)) as second:
        sdk = anthropic.Anthropic(base_url=second.base_url, api_key="k", max_retries=0)
        assert sdk.messages.batches.retrieve(batch.id).processing_status == "ended"
        assert [r.model_dump() for r in sdk.messages.batches.results(batch.id)] == before
