"""POST /v1/chat/completions on the wire: the SSE frames and their ``[DONE]``, OpenAI's
error envelope with its statuses and headers (``request-id``, ``openai-version``,
``x-should-retry``, ``retry-after``), authentication without ``anthropic-version``,
bad input of every kind answered with a 400 (never a 500), a limited key's
``x-ratelimit-*`` headers, and an upstream that breaks off mid-stream."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from conftest import ServerThread, sse_events
from fake_openai import RESET, FakeOpenAI, chunk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MODEL = "claude-sonnet-4-5"
PATH = "/v1/chat/completions"
BODY: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about tide pools"}]}
REQUEST_ID = re.compile(r"^req_011C[0-9A-Za-z]{20}$")
DURATION = re.compile(r"^(\d+h)?(\d+m)?\d+s$|^\d+ms$")


@pytest.fixture(scope="module")
def raw(served: ServerThread) -> Iterator[httpx.Client]:
    """Raw HTTP as the OpenAI SDK sends it: a Bearer key, no anthropic-version."""
    with httpx.Client(base_url=served.base_url, headers={"authorization": "Bearer sk-ant-test"}, timeout=30) as client:
        yield client


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(response.headers["request-id"])
    assert response.headers["openai-version"] == "2020-10-01"
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == error_type and body["error"]["message"]
    return body["error"]


def frames(response: httpx.Response) -> list[str]:
    """The data of every frame; none is named (OpenAI's streams are data-only)."""
    events = sse_events(response.text)
    assert all(name is None for name, _ in events), events
    return [data for _, data in events]


# -- answers --------------------------------------------------------------------------------------


def test_json_answer_headers(raw: httpx.Client) -> None:
    response = raw.post(PATH, json=BODY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert REQUEST_ID.fullmatch(response.headers["request-id"])
    assert response.headers["openai-version"] == "2020-10-01"
    answer = response.json()
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["refusal"] is None
    assert set(answer["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}  # details always empty


def test_a_stream_is_data_only_frames_ending_with_done(raw: httpx.Client) -> None:
    response = raw.post(PATH, json={**BODY, "stream": True, "stream_options": {"include_usage": True}})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["openai-version"] == "2020-10-01" and REQUEST_ID.fullmatch(response.headers["request-id"])
    data = frames(response)
    assert data[-1] == "[DONE]" and response.text.endswith("data: [DONE]\n\n")
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_x_api_key_works_and_anthropic_version_is_accepted_not_needed(served: ServerThread) -> None:
    for headers in ({"x-api-key": "sk-ant-test"}, {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}):
        response = httpx.post(served.base_url + PATH, json=BODY, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
    workspace = {"authorization": "Bearer sk-ant-test", "anthropic-workspace-id": "wrkspc_01"}
    assert httpx.post(served.base_url + PATH, json=BODY, headers=workspace, timeout=30).status_code == 200


def test_an_error_mid_stream_is_an_error_frame_and_no_done(rules, raw: httpx.Client) -> None:
    rules([{"fault": {"error": "overloaded_error", "after_events": 3, "message": "Busy now."}}])
    response = raw.post(PATH, json={**BODY, "stream": True})
    assert response.status_code == 200
    data = frames(response)
    assert "[DONE]" not in data
    assert json.loads(data[-1]) == {
        "error": {"message": "Busy now.", "type": "overloaded_error", "param": None, "code": None}
    }


def test_a_fault_before_the_first_event_is_an_http_error(rules, raw: httpx.Client) -> None:
    rules([{"fault": {"error": "rate_limit_error", "after_events": 0, "retry_after": 3}}])
    response = raw.post(PATH, json={**BODY, "stream": True})
    assert_envelope(response, 429, "rate_limit_error")
    assert response.headers["retry-after"] == "3" and response.headers["x-should-retry"] == "true"


# -- errors ---------------------------------------------------------------------------------------


def test_no_key_is_a_401(served: ServerThread) -> None:
    response = httpx.post(served.base_url + PATH, json=BODY, timeout=30)
    assert assert_envelope(response, 401, "authentication_error")["message"] == "x-api-key header is required"
    assert response.headers["x-should-retry"] == "false"


def test_other_methods_are_a_405(raw: httpx.Client) -> None:
    response = raw.get(PATH)
    assert_envelope(response, 405, "invalid_request_error")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("padding", [0, 200_000], ids=["small", "checked in the worker process"])
def test_n_2_names_its_parameter(raw: httpx.Client, padding: int) -> None:
    body = {**BODY, "n": 2, "user": "u" * padding}  # bodies over 64 KB are checked off the event loop
    error = assert_envelope(raw.post(PATH, json=body), 400, "invalid_request_error")
    assert error == {
        "message": "Invalid 'n': only n=1 is supported.",
        "type": "invalid_request_error",
        "param": "n",
        "code": "invalid_value",
    }


def test_an_unknown_model_is_a_404(raw: httpx.Client) -> None:
    assert_envelope(raw.post(PATH, json={**BODY, "model": "gpt-4o"}), 404, "not_found_error")


USER = {"role": "user", "content": "Hi"}
BAD: list[tuple[Any, str | None]] = [
    (b"{not json", None),
    (b"[1, 2]", None),
    ({"model": MODEL}, "messages"),
    ({**BODY, "messages": "Hi"}, "messages"),
    ({**BODY, "messages": []}, None),
    ({**BODY, "messages": [7]}, "messages[0]"),
    ({**BODY, "messages": [{"content": "Hi"}]}, "messages[0].role"),
    ({**BODY, "messages": [{"role": "robot", "content": "Hi"}]}, "messages[0].role"),
    ({**BODY, "messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0].type"),
    (
        {**BODY, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages[0].content[0].image_url.url",
    ),
    (
        {
            **BODY,
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,xyz"}}]}
            ],
        },
        "messages[0].content[0].image_url.url",
    ),
    ({**BODY, "messages": [{"role": "user", "content": 5}]}, None),
    ({**BODY, "messages": [{"role": "user", "content": ""}]}, None),
    ({**BODY, "messages": [{"role": "system", "content": [{"type": "image_url"}]}, USER]}, "messages[0].content[0]"),
    (
        {
            **BODY,
            "messages": [
                USER,
                {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{oops"}}]},
            ],
        },
        "messages[1].tool_calls[0].function.arguments",
    ),
    ({**BODY, "messages": [USER, {"role": "assistant", "tool_calls": "all"}]}, "messages[1].tool_calls"),
    (
        {**BODY, "messages": [USER, {"role": "assistant", "tool_calls": [{"id": "c1"}]}]},
        "messages[1].tool_calls[0].function",
    ),
    ({**BODY, "messages": [USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}]}, None),
    ({**BODY, "tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    ({**BODY, "tools": [{"type": "function"}]}, "tools[0].function"),
    ({**BODY, "tools": [{"type": "function", "function": {"name": "has space"}}]}, None),
    ({**BODY, "tools": "all"}, "tools"),
    ({**BODY, "tool_choice": "sometimes"}, "tool_choice"),
    ({**BODY, "tool_choice": "required"}, None),
    ({**BODY, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, None),
    ({**BODY, "function_call": "required"}, "function_call"),
    ({**BODY, "n": "1"}, "n"),
    ({**BODY, "n": 0}, "n"),
    ({**BODY, "temperature": "hot"}, "temperature"),
    ({**BODY, "top_p": 1.5}, "top_p"),
    ({**BODY, "max_tokens": -1}, None),
    ({**BODY, "max_completion_tokens": "many"}, None),
    ({**BODY, "max_tokens": 10**9}, None),
    ({**BODY, "stop": 5}, None),
    ({**BODY, "stream": "yes"}, None),
    ({**BODY, "thinking": {"type": "enabled", "budget_tokens": 10}}, None),
    ({**BODY, "model": 5}, None),
    ({**BODY, "model": ["a"]}, None),
]


@pytest.mark.parametrize(("body", "param"), BAD)
def test_bad_input_is_a_400_never_a_500(raw: httpx.Client, body: Any, param: str | None) -> None:
    if isinstance(body, bytes):
        response = raw.post(PATH, content=body, headers={"content-type": "application/json"})
    else:
        response = raw.post(PATH, json=body)
    error = assert_envelope(response, 400, "invalid_request_error")
    assert error["param"] == param


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from(["", "user", "x", "auto"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "role", "content", "name", "url", "function", "text"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "messages",
        "model",
        "n",
        "stop",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stream",
        "stream_options",
        "thinking",
        "parallel_tool_calls",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.dictionaries(_FIELDS, _JSON, max_size=4))
def test_no_body_is_a_500(raw: httpx.Client, extra: dict[str, Any]) -> None:
    response = raw.post(PATH, json={**BODY, **extra})
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert response.text.endswith("data: [DONE]\n\n") or '"error"' in response.text


# -- a limited key --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[ServerThread]:
    with ServerThread(data_dir=str(tmp_path_factory.mktemp("chat-keys"))) as server:
        yield server


def make_key(server: ServerThread, **settings: Any) -> str:
    response = httpx.post(f"{server.base_url}/_dateline/keys", json={"name": "chat", **settings}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def test_a_limited_keys_answers_carry_x_ratelimit_headers(keyed: ServerThread) -> None:
    limits = {"requests_per_minute": 3, "input_tokens_per_minute": 100000, "output_tokens_per_minute": 9000}
    secret = make_key(keyed, rate_limits=limits)
    headers = {"authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=keyed.base_url, headers=headers, timeout=30) as client:
        answers = [client.post(PATH, json=BODY), client.post(PATH, json={**BODY, "stream": True})]
        refused_early = client.post(PATH, json={**BODY, "n": 2})  # a 400 still shows the limits
        answers.append(client.post(PATH, json=BODY))
        refused = client.post(PATH, json=BODY)
    for answer in answers:
        assert answer.status_code == 200, answer.text
        for kind in ("requests", "tokens"):
            assert int(answer.headers[f"x-ratelimit-limit-{kind}"]) > 0
            assert int(answer.headers[f"x-ratelimit-remaining-{kind}"]) >= 0
            assert DURATION.fullmatch(answer.headers[f"x-ratelimit-reset-{kind}"]), answer.headers
        assert answer.headers["x-ratelimit-limit-requests"] == "3"
        assert "anthropic-ratelimit-requests-limit" in answer.headers
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    assert refused_early.status_code == 400 and refused_early.headers["x-ratelimit-limit-requests"] == "3"
    assert_envelope(refused, 429, "rate_limit_error")
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["x-ratelimit-remaining-requests"] == "0"
    with openai.OpenAI(base_url=keyed.base_url + "/v1/", api_key=secret, max_retries=0) as sdk:
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model=MODEL, messages=BODY["messages"])


def test_a_key_of_the_store_is_checked(keyed: ServerThread) -> None:
    secret = make_key(keyed, allowed_models=["claude-haiku-4-5"])  # once a key exists, only keys are let in
    response = httpx.post(keyed.base_url + PATH, json=BODY, headers={"authorization": "Bearer nope"}, timeout=30)
    assert assert_envelope(response, 401, "authentication_error")["message"] == "Invalid bearer token"
    response = httpx.post(keyed.base_url + PATH, json=BODY, headers={"x-api-key": secret}, timeout=30)
    assert_envelope(response, 403, "permission_error")


# -- an upstream that breaks off ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as running:
        yield running


@pytest.fixture(scope="module")
def upstreamed(fake: FakeOpenAI) -> Iterator[ServerThread]:
    with ServerThread(openai_upstream=fake.base_url + "/v1", upstream_timeout=1) as server:
        yield server


@pytest.mark.parametrize("how", ["reset", "hang"])
def test_an_upstream_that_breaks_off_mid_stream_ends_the_stream(
    fake: FakeOpenAI, upstreamed: ServerThread, how: str
) -> None:
    fake.clear()
    start = [chunk("", role="assistant"), chunk("Hel")]
    if how == "reset":
        fake.chunks([*start, RESET])
    else:
        fake.hang(after=start)
    seen = []
    with openai.OpenAI(base_url=upstreamed.base_url + "/v1/", api_key="k", max_retries=0, timeout=10) as sdk:
        started = time.monotonic()
        with pytest.raises(openai.APIError) as raised:
            for piece in sdk.chat.completions.create(model="gpt-upstream", messages=BODY["messages"], stream=True):
                seen.append(piece)
        assert time.monotonic() - started < 5
    assert "".join(c.choices[0].delta.content or "" for c in seen if c.choices) == "Hel"
    assert raised.value.body["type"] == ("api_error" if how == "reset" else "timeout_error")


def test_the_request_log_keeps_the_answer_as_sent_and_the_head_events_beside(served: ServerThread, raw) -> None:
    sent = raw.post(PATH, json=BODY)
    found = asyncio.run(served.state.log.find(sent.headers["request-id"]))
    assert found is not None and found["answer"] == sent.json() and found["status"] == 200
    streamed = raw.post(PATH, json={**BODY, "stream": True})
    found = asyncio.run(served.state.log.find(streamed.headers["request-id"]))
    assert found is not None and found["migrated"]
    frames_kept = found["events"]
    assert "".join(text for _, text, _ in frames_kept) == streamed.text  # every byte, in order
    heads = [head for _, _, head in frames_kept if head is not None]
    assert heads[0].startswith("event: message_start") and heads[-1].startswith("event: message_stop")


_PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "x"])},
    optional={
        "text": _JSON,
        "image_url": _JSON
        | st.fixed_dictionaries(
            {"url": st.sampled_from(["data:", "data:image/png;base64,AAAA", "https://e.x/a.png", ""])}
        ),
    },
)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "robot"])},
    optional={
        "content": st.none() | st.sampled_from(["", "Hi", " "]) | st.lists(_PART, max_size=3) | _JSON,
        "tool_calls": _JSON
        | st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.sampled_from(["c1", "c2"]),
                    "function": st.fixed_dictionaries(
                        {
                            "name": st.sampled_from(["f", ""]),
                            "arguments": st.sampled_from(["{}", '{"a": 1}', "[]", "", "{"]),
                        }
                    ),
                }
            ),
            max_size=2,
        ),
        "tool_call_id": st.sampled_from(["c1", "c2", ""]) | _JSON,
        "function_call": _JSON
        | st.fixed_dictionaries({"name": st.just("f"), "arguments": st.sampled_from(["{}", "x"])}),
        "name": _JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(_MESSAGE, max_size=4),
    tools=st.none() | st.just([{"type": "function", "function": {"name": "f"}}]),
)
def test_no_conversation_is_a_500(raw: httpx.Client, messages: list[Any], tools: Any) -> None:
    body = {**BODY, "messages": messages, **({"tools": tools} if tools else {})}
    response = raw.post(PATH, json=body)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_betas_and_the_fault_header_are_read_as_on_messages(raw: httpx.Client) -> None:
    unknown = raw.post(PATH, json=BODY, headers={"anthropic-beta": "no-such-beta-2099-01-01"})
    assert "no-such-beta-2099-01-01" in assert_envelope(unknown, 400, "invalid_request_error")["message"]
    assert raw.post(PATH, json=BODY, headers={"anthropic-beta": "context-1m-2025-08-07"}).status_code == 200
    faulted = raw.post(PATH, json=BODY, headers={"dateline-fault": "error=overloaded_error; retry_after=2"})
    assert_envelope(faulted, 529, "overloaded_error")
    assert faulted.headers["retry-after"] == "2" and faulted.headers["x-should-retry"] == "true"
