"""Rate limits at the edge, in one process (the limiter in memory, then on Redis): a key's buckets
admit exactly what they hold, refuse the rest with 429 and ``retry-after``, put the
``anthropic-ratelimit-*`` headers on every answer (JSON, stream, error), charge output
as produced, keep count_tokens and batches apart, and record usage."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread, sse_events

MODEL = "claude-sonnet-4-5"
BODY: dict[str, Any] = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "Hello"}]}
COUNT = {k: v for k, v in BODY.items() if k != "max_tokens"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
KINDS = ("requests", "input-tokens", "output-tokens", "tokens")


@pytest.fixture(scope="module", params=["memory", "redis"])
def served(request, tmp_path_factory) -> Iterator[ServerThread]:
    """One server with the in-process limiter, one with the limiter on Redis."""
    options = {"redis_url": request.getfixturevalue("redis_server").url} if request.param == "redis" else {}
    with ServerThread(data_dir=str(tmp_path_factory.mktemp("limits")), **options) as server:
        yield server


def make_key(server: ServerThread, **settings: Any) -> tuple[str, str]:
    """A key made through the admin API: its secret and id."""
    response = httpx.post(f"{server.base_url}/_dateline/keys", json={"name": "limited", **settings}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["secret"], response.json()["id"]


def headers_of(secret: str) -> dict[str, str]:
    return {"x-api-key": secret, "anthropic-version": "2023-06-01"}


def post(server: ServerThread, secret: str, body: dict[str, Any] = BODY, path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers_of(secret), timeout=30)


async def flood(base_url: str, secret: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(client.post("/v1/messages", json=BODY, headers=headers_of(secret)) for _ in range(count))
        )


def check_rate_headers(headers: httpx.Headers, kinds: tuple[str, ...] = KINDS) -> None:
    for kind in kinds:
        assert int(headers[f"anthropic-ratelimit-{kind}-limit"]) > 0
        assert int(headers[f"anthropic-ratelimit-{kind}-remaining"]) >= 0
        assert RFC3339.fullmatch(headers[f"anthropic-ratelimit-{kind}-reset"])


def test_exactly_the_limit_of_200_concurrent_requests_is_let_in(served: ServerThread) -> None:
    secret, _ = make_key(served, rate_limits={"requests_per_minute": 50})
    answers = asyncio.run(flood(served.base_url, secret, 200))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 50 and statuses.count(429) == 150
    for refused in (a for a in answers if a.status_code == 429):
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert "50 requests per minute" in refused.json()["error"]["message"]
        assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_headers_on_json_and_stream_answers(served: ServerThread) -> None:
    secret, _ = make_key(
        served,
        rate_limits={"requests_per_minute": 100, "input_tokens_per_minute": 100000, "output_tokens_per_minute": 9000},
    )
    answer = post(served, secret)
    assert answer.status_code == 200, answer.text
    check_rate_headers(answer.headers)
    assert answer.headers["anthropic-ratelimit-requests-limit"] == "100"
    assert answer.headers["anthropic-ratelimit-requests-remaining"] == "99"
    # Output is charged once the answer is made: the next answer shows less left.
    made = answer.json()["usage"]["output_tokens"]
    with httpx.stream(
        "POST", f"{served.base_url}/v1/messages", json={**BODY, "stream": True}, headers=headers_of(secret), timeout=30
    ) as stream:
        assert stream.status_code == 200
        check_rate_headers(stream.headers)
        text = stream.read().decode()
    assert sse_events(text)[-1][0] == "message_stop"
    assert stream.headers["anthropic-ratelimit-requests-remaining"] == "98"
    assert made > 0


def test_unlimited_keys_get_no_headers(served: ServerThread) -> None:
    secret, _ = make_key(served)
    answer = post(served, secret)
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.startswith("anthropic-ratelimit-")]


def test_a_bad_request_uses_up_nothing(served: ServerThread) -> None:
    secret, _ = make_key(served, rate_limits={"requests_per_minute": 2})
    for _ in range(5):
        refused = post(served, secret, {**BODY, "max_tokens": "many"})
        assert refused.status_code == 400
        # Every response to a limited key carries its headers, a refusal before admission too.
        assert refused.headers["anthropic-ratelimit-requests-remaining"] == "2"
    assert [post(served, secret).status_code for _ in range(3)] == [200, 200, 429]


def test_output_tokens_charged_as_produced_put_the_bucket_in_debt(served: ServerThread) -> None:
    secret, _ = make_key(served, rate_limits={"output_tokens_per_minute": 5})
    first = post(served, secret, {**BODY, "max_tokens": 50})
    assert first.status_code == 200
    assert first.json()["usage"]["output_tokens"] > 5
    refused = post(served, secret)
    assert refused.status_code == 429
    assert "output tokens per minute" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1


def test_a_stream_is_charged_its_output_even_when_its_client_leaves(served: ServerThread) -> None:
    secret, _ = make_key(served, rate_limits={"output_tokens_per_minute": 5})
    body = {**BODY, "max_tokens": 200, "stream": True}
    with httpx.stream("POST", f"{served.base_url}/v1/messages", json=body, headers=headers_of(secret)) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if "content_block_delta" in line:
                break  # gone after the first token
    time.sleep(0.5)
    refused = post(served, secret)
    assert refused.status_code == 429, refused.text
    assert "output tokens per minute" in refused.json()["error"]["message"]


def test_buckets_refill_continuously(served: ServerThread) -> None:
    # 30 a minute: one request back every two seconds, not all 30 at the minute's end.
    secret, _ = make_key(served, rate_limits={"requests_per_minute": 30})
    statuses = [a.status_code for a in asyncio.run(flood(served.base_url, secret, 40))]
    assert statuses.count(200) == 30
    assert post(served, secret).status_code == 429
    time.sleep(2.2)
    assert post(served, secret).status_code == 200
    assert post(served, secret).status_code == 429


def test_count_tokens_has_its_own_bucket(served: ServerThread) -> None:
    secret, _ = make_key(served, rate_limits={"requests_per_minute": 2})
    assert [post(served, secret).status_code for _ in range(3)] == [200, 200, 429]
    counted = [post(served, secret, COUNT, "/v1/messages/count_tokens") for _ in range(3)]
    assert [c.status_code for c in counted] == [200, 200, 429]
    assert counted[0].headers["anthropic-ratelimit-requests-limit"] == "2"


def test_spend_limit_refuses_without_retry_after(served: ServerThread) -> None:
    secret, _ = make_key(served, spend_limit=0)
    refused = post(served, secret)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert error["details"] == {"error_code": "enforced_spend_limit_reached"}
    assert "retry-after" not in refused.headers


def test_unified_headers_and_rejection(served: ServerThread) -> None:
    secret, _ = make_key(served, unified_limits={"five_hour": 30, "seven_day": 100000})
    first = post(served, secret, {**BODY, "max_tokens": 50})
    assert first.status_code == 200
    assert first.headers["anthropic-ratelimit-unified-status"] in ("allowed", "allowed_warning")
    assert first.headers["anthropic-ratelimit-unified-5h-status"]
    time.sleep(0.2)
    refused = post(served, secret)
    assert refused.status_code == 429
    assert refused.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert refused.headers["x-should-retry"] == "true"
    assert int(refused.headers["retry-after"]) >= 1


def test_usage_is_recorded_per_key(served: ServerThread) -> None:
    secret, key_id = make_key(served)
    assert post(served, secret).status_code == 200
    with httpx.stream(
        "POST", f"{served.base_url}/v1/messages", json={**BODY, "stream": True}, headers=headers_of(secret), timeout=30
    ) as stream:
        stream.read()
    time.sleep(0.2)
    total = usage_of(served, key_id)
    assert total["requests"] == 2
    assert total["output_tokens"] > 0


def usage_of(server: ServerThread, key_id: str) -> dict[str, Any]:
    """The key's usage totals, as the admin API reports them (flushed first)."""
    response = httpx.get(f"{server.base_url}/_dateline/usage", params={"key": key_id}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_the_sdk_retries_after_retry_after_and_succeeds(served: ServerThread) -> None:
    # 60 a minute: one back every second, so the SDK's retry waits about a second.
    secret, _ = make_key(served, rate_limits={"requests_per_minute": 60})
    asyncio.run(flood(served.base_url, secret, 60))
    assert post(served, secret).status_code == 429
    client = anthropic.Anthropic(base_url=served.base_url, api_key=secret, max_retries=3, timeout=30)
    started = time.monotonic()
    raw = client.messages.with_raw_response.create(**BODY)
    assert raw.http_response.status_code == 200
    assert raw.retries_taken >= 1
    assert 0.5 < time.monotonic() - started < 10
    assert raw.parse().content


def test_an_upstream_s_limit_headers_are_relayed_unless_the_key_has_its_own(served: ServerThread, tmp_path) -> None:
    # The upstream is another Dateline, holding the key Dateline calls it with to 2 requests a minute.
    upstream_secret, _ = make_key(served, rate_limits={"requests_per_minute": 2})
    with ServerThread(
        data_dir=str(tmp_path), anthropic_upstream=served.base_url, anthropic_api_key=upstream_secret
    ) as front:
        plain, _ = make_key(front)
        own, _ = make_key(front, rate_limits={"requests_per_minute": 7})
        relayed = post(front, plain)
        assert relayed.status_code == 200, relayed.text
        assert relayed.headers["anthropic-ratelimit-requests-limit"] == "2"
        mine = post(front, own)
        assert mine.headers["anthropic-ratelimit-requests-limit"] == "7"
        refused = post(front, plain)  # the upstream's third request in its minute
        assert refused.status_code == 429
        assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-should-retry"] == "true"


def test_batches_draw_on_the_key_s_batch_limits_apart(served: ServerThread) -> None:
    secret, key_id = make_key(served, rate_limits={"requests_per_minute": 2})
    assert [post(served, secret).status_code for _ in range(3)] == [200, 200, 429]
    client = anthropic.Anthropic(base_url=served.base_url, api_key=secret, max_retries=0, timeout=30)
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": BODY} for i in range(2)]  # type: ignore[list-item]
    )
    deadline = time.monotonic() + 30
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    results = list(client.messages.batches.results(batch.id))
    assert [r.result.type for r in results] == ["succeeded", "succeeded"]
    # The key's own buckets are still empty: the batch drew on its batch buckets.
    assert post(served, secret).status_code == 429
    assert usage_of(served, key_id)["requests"] == 4
