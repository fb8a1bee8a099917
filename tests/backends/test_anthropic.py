"""The ``anthropic`` backend: a Dateline front forwarding to another Dateline
(the upstream, with the built-in model), asked through the official SDK and
raw HTTP; answers must match what the upstream gives when asked directly."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from conftest import free_port, sse_events

from dateline.backends.anthropic import AnthropicBackend
from dateline.testing import DatelineServer
from dateline.upstream import Clients, Pool, Target, TransportFactory, Upstream

#: The model the upstream is asked for, and the (different) one clients ask the front for.
UPSTREAM_MODEL = "claude-sonnet-4-5"
MODEL = "claude-opus-4-5"
ASK: dict[str, Any] = {"max_tokens": 64, "messages": [{"role": "user", "content": "Tell me about tide pools"}]}
LEGACY = {"x-api-key": "k", "anthropic-version": "2023-01-01"}
COMPLETION = {"model": "claude-2.1", "prompt": "\n\nHuman: Hello\n\nAssistant:", "max_tokens_to_sample": 40}


def front_for(base_url: str, transport: TransportFactory | None = None, **upstream: Any) -> DatelineServer:
    target = Target(Upstream(name="up", kind="anthropic", base_url=base_url, **upstream), UPSTREAM_MODEL)
    return DatelineServer(backend=AnthropicBackend(Pool([target]), Clients(transport)))


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[DatelineServer]:
    with DatelineServer() as server:
        yield server


@pytest.fixture
def upstream(upstream_server: DatelineServer) -> Iterator[DatelineServer]:
    upstream_server.reset()
    yield upstream_server
    upstream_server.reset()


@pytest.fixture(scope="module")
def front(upstream_server: DatelineServer) -> Iterator[DatelineServer]:
    with front_for(upstream_server.base_url) as server:
        yield server


def sdk(server: DatelineServer, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0, timeout=30, **options)


def raw_stream(server: DatelineServer) -> list[tuple[str | None, str]]:
    """A streamed Messages answer as raw SSE (event name, data) pairs."""
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": MODEL, "stream": True, **ASK}
    return sse_events(httpx.post(f"{server.base_url}/v1/messages", json=body, headers=headers, timeout=30).text)


def answer(message: Any) -> dict[str, Any]:
    """What a client reads of a Message, minus its id and model."""
    dumped = message.model_dump(exclude={"id", "model"})
    dumped["content"] = [{k: v for k, v in block.items() if k != "parsed_output"} for block in dumped["content"]]
    return dumped


def test_message_is_the_upstreams_answer_with_the_model_as_asked(front, upstream):
    through = sdk(front).messages.create(model=MODEL, **ASK)
    direct = sdk(upstream).messages.create(model=UPSTREAM_MODEL, **ASK)

    assert through.model == MODEL
    assert answer(through) == answer(direct)
    sent = upstream.requests("/v1/messages")[0]
    assert sent["body"]["model"] == UPSTREAM_MODEL
    assert sent["version"] == "2026-10-21"  # the client's own version, passed on


def test_stream_is_the_upstreams_stream_with_the_model_as_asked(front, upstream):
    def events(server: DatelineServer, model: str) -> tuple[list[str], Any]:
        with sdk(server).messages.stream(model=model, **ASK) as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_message()

    through_kinds, through = events(front, MODEL)
    direct_kinds, direct = events(upstream, UPSTREAM_MODEL)

    assert through.model == MODEL
    assert through_kinds == direct_kinds
    assert answer(through) == answer(direct)
    assert upstream.requests("/v1/messages")[0]["body"]["stream"] is True


def test_count_tokens_is_the_upstreams(front, upstream):
    through = sdk(front).messages.count_tokens(model=MODEL, messages=ASK["messages"])
    direct = sdk(upstream).messages.count_tokens(model=UPSTREAM_MODEL, messages=ASK["messages"])
    assert through.input_tokens == direct.input_tokens > 0
    assert upstream.requests("/v1/messages/count_tokens")[0]["body"]["model"] == UPSTREAM_MODEL


def test_betas_and_the_clients_key_are_passed_on(front, upstream):
    betas = ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]
    sdk(front).beta.messages.create(model=MODEL, betas=betas, **ASK)
    sdk(front).messages.create(model=MODEL, **ASK)

    with_betas, without = upstream.requests("/v1/messages")
    assert with_betas["betas"] == betas
    assert without["betas"] == [] and "anthropic-beta" not in without["headers"]
    assert with_betas["api_key"] == "[redacted]"  # the client's "k", as the log shows a key


def test_the_clients_workspace_goes_with_its_key(front, upstream):
    sdk(front).messages.create(model=MODEL, extra_headers={"anthropic-workspace-id": "wrkspc_01"}, **ASK)
    (sent,) = upstream.requests("/v1/messages")
    assert dict(sent["headers"])["anthropic-workspace-id"] == "wrkspc_01"


def test_a_configured_key_replaces_the_clients():
    with DatelineServer(api_keys=["sk-upstream"]) as guarded:
        with front_for(guarded.base_url) as passing, front_for(guarded.base_url, api_key="sk-upstream") as keyed:
            with pytest.raises(anthropic.AuthenticationError) as refused:
                sdk(passing).messages.create(model=MODEL, **ASK)
            assert refused.value.body["error"]["message"] == "Invalid bearer token"  # the SDK's own credential
            assert sdk(keyed).messages.create(model=MODEL, **ASK).content
            assert [entry["api_key"] for entry in guarded.requests()] == [None, "[redacted]"]


def test_the_upstreams_request_id_is_the_clients(front, upstream):
    raw = sdk(front).messages.with_raw_response.create(model=MODEL, **ASK)
    with sdk(front).messages.with_streaming_response.create(model=MODEL, stream=True, **ASK) as streamed:
        streamed_id = streamed.headers["request-id"]
        streamed.read()
    assert [raw.headers["request-id"], streamed_id] == [e["request_id"] for e in upstream.requests("/v1/messages")]


def test_a_rate_limit_comes_back_with_its_retry_after(front, upstream):
    upstream.fail("rate_limit_error", retry_after=3, message="Slow down")
    with pytest.raises(anthropic.RateLimitError) as limited:
        sdk(front).messages.create(model=MODEL, **ASK)
    assert limited.value.status_code == 429
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.body["error"] == {"type": "rate_limit_error", "message": "Slow down"}
    assert limited.value.request_id == upstream.requests("/v1/messages")[0]["request_id"]


@pytest.mark.parametrize(
    ("error", "status"),
    [("permission_error", 403), ("not_found_error", 404), ("api_error", 500), ("overloaded_error", 529)],
)
def test_upstream_errors_pass_through(front, upstream, error, status):
    upstream.fail(error, message=f"upstream says {error}")
    with pytest.raises(anthropic.APIStatusError) as failed:
        sdk(front).messages.create(model=MODEL, **ASK)
    assert failed.value.status_code == status
    assert failed.value.body["error"] == {"type": error, "message": f"upstream says {error}"}


def test_an_error_event_mid_stream_passes_through(front, upstream):
    upstream.fail("overloaded_error", after_events=3)
    events = raw_stream(front)
    assert [name for name, _ in events][:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert [name for name, _ in events][3:] == ["error"]
    assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"


def test_rate_limit_headers_are_relayed_on_answers_and_errors():
    limits = {
        "anthropic-ratelimit-requests-remaining": "999",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:00Z",
    }
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": UPSTREAM_MODEL, "content": [],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
    }  # fmt: skip
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}

    def upstream(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["max_tokens"] == 1:
            return httpx.Response(529, json=overloaded, headers={**limits, "retry-after": "7", "request-id": "req_up"})
        return httpx.Response(200, json=message, headers={**limits, "request-id": "req_up", "x-private": "no"})

    with front_for("http://upstream.invalid", transport=lambda: httpx.MockTransport(upstream)) as server:
        ok = sdk(server).messages.with_raw_response.create(model=MODEL, **ASK)
        with pytest.raises(anthropic.OverloadedError) as failed:
            sdk(server).messages.create(model=MODEL, **{**ASK, "max_tokens": 1})

    assert {**limits, "request-id": "req_up"}.items() <= ok.headers.items()
    assert "x-private" not in ok.headers
    assert {**limits, "retry-after": "7", "request-id": "req_up"}.items() <= failed.value.response.headers.items()
    assert failed.value.body["error"] == overloaded["error"]


#: An upstream's answer with usage and stop fields as the API sends them, some not the way Dateline's model would.
UPSTREAM_USAGE = {
    "input_tokens": 7, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 30000,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 2048},
    "output_tokens": 12, "service_tier": "priority", "inference_geo": "us",
    "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
    "output_tokens_details": {"thinking_tokens": 5}, "speed": "fast",
}  # fmt: skip
UPSTREAM_MESSAGE = {
    "model": UPSTREAM_MODEL, "id": "msg_up", "type": "message", "role": "assistant",
    "content": [{"type": "text", "text": "I can tell you"}],
    "container": {"id": "container_1", "expires_at": "2026-10-21T00:00:00Z"},
    "stop_reason": "refusal", "stop_sequence": None,
    "stop_details": {"type": "refusal", "category": "cyber", "explanation": "Working malware."},
    "usage": UPSTREAM_USAGE, "diagnostics": None,
}  # fmt: skip
UPSTREAM_STREAM = [
    {"type": "message_start", "message": {**UPSTREAM_MESSAGE, "content": [], "stop_reason": None, "stop_details": None,
                                          "container": None, "usage": {"input_tokens": 7, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "I can tell you"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "refusal", "stop_sequence": None,
                                        "stop_details": UPSTREAM_MESSAGE["stop_details"]},
     "usage": {"input_tokens": 7, "cache_read_input_tokens": 30000, "output_tokens": 12}},
    {"type": "message_stop"},
]  # fmt: skip


def test_usage_and_stop_fields_pass_through_as_the_upstream_sent_them():
    def upstream(request: httpx.Request) -> httpx.Response:
        if not json.loads(request.content).get("stream"):
            return httpx.Response(200, json=UPSTREAM_MESSAGE)
        body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in UPSTREAM_STREAM)
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    with front_for("http://upstream.invalid", transport=lambda: httpx.MockTransport(upstream)) as server:
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        whole = httpx.post(f"{server.base_url}/v1/messages", json={"model": MODEL, **ASK}, headers=headers)
        streamed = httpx.post(f"{server.base_url}/v1/messages", json={"model": MODEL, "stream": True, **ASK}, headers=headers)

    # Nothing added, nothing taken, nothing reordered: only the model is the client's.
    assert list(whole.json().items()) == list({**UPSTREAM_MESSAGE, "model": MODEL}.items())
    events = [json.loads(data) for _, data in sse_events(streamed.text)]
    assert events[1:] == UPSTREAM_STREAM[1:]
    assert list(events[0]["message"]["usage"].items()) == [("input_tokens", 7), ("output_tokens", 1)]
    assert list(events[-2]["usage"]) == ["input_tokens", "cache_read_input_tokens", "output_tokens"]


def test_a_2023_01_01_completion_stream_is_cumulative_whatever_the_upstream_speaks(front, upstream):
    upstream.script([{"reply": {"text": "Hello my name is Claude."}}])

    def stream(server: DatelineServer) -> list[tuple[str | None, Any]]:
        body = {**COMPLETION, "stream": True}
        response = httpx.post(f"{server.base_url}/v1/complete", json=body, headers=LEGACY, timeout=30)
        assert response.status_code == 200, response.text
        return [(name, without_ids(data)) for name, data in sse_events(response.text)]

    def without_ids(data: str) -> Any:
        # Each answer has a completion id of its own; everything else must agree.
        if data == "[DONE]":
            return data
        return {k: v for k, v in json.loads(data).items() if k not in ("id", "log_id")}

    through, direct = stream(front), stream(upstream)

    assert through == direct
    assert through[-1] == (None, "[DONE]")
    texts = [data["completion"] for name, data in through if name is None and isinstance(data, dict)]
    assert texts[-1] == " Hello my name is Claude." and all(b.startswith(a) for a, b in zip(texts, texts[1:]))
    assert upstream.requests("/v1/messages")[0]["version"] == "2023-01-01"  # the client's own version


def test_a_completion_without_stream_is_the_upstreams(front, upstream):
    upstream.script([{"reply": {"text": "Hello my name is Claude."}}])
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    through = httpx.post(f"{front.base_url}/v1/complete", json=COMPLETION, headers=headers, timeout=30).json()
    direct = httpx.post(f"{upstream.base_url}/v1/complete", json=COMPLETION, headers=headers, timeout=30).json()
    assert through["completion"] == direct["completion"] == " Hello my name is Claude."
    assert through["stop_reason"] == direct["stop_reason"] == "stop_sequence"


def test_an_upstream_that_is_down_is_overloaded():
    with front_for(f"http://127.0.0.1:{free_port()}") as server:
        with pytest.raises(anthropic.OverloadedError) as down:
            sdk(server).messages.create(model=MODEL, **ASK)
    assert down.value.status_code == 529
    assert down.value.body["type"] == "error" and down.value.body["error"]["type"] == "overloaded_error"


def test_an_upstream_that_is_down_fails_over_to_the_next(upstream):
    dead = Target(Upstream(name="dead", kind="anthropic", base_url=f"http://127.0.0.1:{free_port()}"), UPSTREAM_MODEL)
    live = Target(Upstream(name="live", kind="anthropic", base_url=upstream.base_url), UPSTREAM_MODEL)
    pool = Pool([dead, live])
    with DatelineServer(backend=AnthropicBackend(pool, Clients())) as server:
        assert sdk(server).messages.create(model=MODEL, **ASK).content
    assert len(upstream.requests("/v1/messages")) == 1
    assert pool.order()[-1] == dead  # it rests, and is tried last until its cool-down ends


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_an_upstream_that_never_answers_times_out(hung_port):
    with front_for(f"http://127.0.0.1:{hung_port}", timeout=0.5) as server:
        started = time.monotonic()
        with pytest.raises(anthropic.InternalServerError) as hung:
            sdk(server).messages.create(model=MODEL, **ASK)
        elapsed = time.monotonic() - started
    assert hung.value.status_code == 504 and hung.value.body["error"]["type"] == "timeout_error"
    assert 0.5 <= elapsed < 3


def test_a_stream_whose_first_event_is_late_times_out(upstream):
    upstream.fail(None, first_token_delay=3)
    with front_for(upstream.base_url, timeout=0.5) as server:
        started = time.monotonic()
        with pytest.raises(anthropic.InternalServerError) as late:
            with sdk(server).messages.stream(model=MODEL, **ASK) as stream:
                stream.get_final_message()
        elapsed = time.monotonic() - started
    assert late.value.status_code == 504 and late.value.body["error"]["type"] == "timeout_error"
    assert 0.5 <= elapsed < 2.5


def test_a_stream_broken_mid_way_ends_with_an_error_event(front, upstream):
    upstream.fail(None, disconnect_after_events=3)
    events = raw_stream(front)
    assert [name for name, _ in events][:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert [name for name, _ in events][3:] == ["error"]
    error = json.loads(events[-1][1])["error"]
    assert error["type"] == "api_error" and "upstream" in error["message"]


# --- versions: the client's by default, or one configured ---------------------------------------------------

OLD_CLIENT = {"anthropic-version": "2023-06-01"}


def test_an_older_clients_sampling_parameters_reach_the_upstream_in_its_version(front, upstream):
    sdk(front, default_headers=OLD_CLIENT).messages.create(model=MODEL, **ASK, extra_body={"temperature": 0.25})
    sent = upstream.requests("/v1/messages")[0]
    assert sent["version"] == "2023-06-01"
    assert sent["body"]["temperature"] == 0.25


def test_an_upstream_of_a_fixed_version_gets_that_versions_shape(upstream):
    with front_for(upstream.base_url, version="2023-06-01") as fixed:
        sdk(fixed).messages.create(model=MODEL, **ASK)  # a 2026-10-21 client
        sdk(fixed, default_headers=OLD_CLIENT).messages.create(model=MODEL, **ASK, extra_body={"top_k": 3})
    today, older = upstream.requests("/v1/messages")
    assert today["version"] == older["version"] == "2023-06-01"
    assert "top_k" not in today["body"] and older["body"]["top_k"] == 3


def test_what_a_fixed_version_cannot_carry_is_refused_not_dropped(upstream):
    with front_for(upstream.base_url, version="2026-10-21") as fixed:
        with pytest.raises(anthropic.BadRequestError) as refused:
            sdk(fixed, default_headers=OLD_CLIENT).messages.create(model=MODEL, **ASK, extra_body={"temperature": 0.5})
        assert refused.value.body["error"]["message"] == "temperature: Extra inputs are not permitted"
        assert upstream.requests("/v1/messages") == []
        # The same client without it goes through, in the upstream's version.
        sdk(fixed, default_headers=OLD_CLIENT).messages.create(model=MODEL, **ASK)
    assert upstream.requests("/v1/messages")[0]["version"] == "2026-10-21"


def test_an_upstream_error_passes_through_unmodified(front, upstream):
    upstream.script([{"fault": {"error": "invalid_request_error", "message": "messages.0: the upstream's own words"}}])
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk(front).messages.create(model=MODEL, **ASK)
    assert refused.value.body["error"] == {
        "type": "invalid_request_error", "message": "messages.0: the upstream's own words"
    }


def test_a_key_that_is_not_ascii_is_refused_not_a_500(front, upstream):
    for name, value, message in [("x-api-key", "sk-ant-é", "invalid x-api-key"),
                                 ("authorization", "Bearer sk-ant-é", "Invalid bearer token")]:
        response = httpx.post(
            f"{front.base_url}/v1/messages", json={"model": MODEL, **ASK},
            headers={name: value.encode("utf-8"), "anthropic-version": "2023-06-01"}, timeout=30,
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"] == {"type": "authentication_error", "message": message}
    assert upstream.requests("/v1/messages") == []
