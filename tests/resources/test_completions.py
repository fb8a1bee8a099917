"""Legacy Text Completions (``POST /v1/complete``) over real HTTP, per version.

Under 2023-06-01 and later a stream is named ``completion`` events carrying
only the new text, with pings and no terminator; under 2023-01-01 it is
data-only events carrying all the text so far, ending with ``data: [DONE]``,
and every completion carries ``exception: null`` and ``truncated: false``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import anthropic
import httpx
import pytest
from conftest import FailingBackend, ServerThread, sse_events

MODEL = "claude-2.1"
PROMPT = "\n\nHuman: Tell me about tide pools\n\nAssistant:"
HUMAN = "\n\nHuman:"
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
HEAD_VERSIONS = ("2023-06-01", "2026-10-21")
HEAD_KEYS = {"type", "id", "completion", "stop_reason", "model", "stop", "log_id"}
LEGACY_KEYS = HEAD_KEYS | {"truncated", "exception"}
COMPLETION_ID = re.compile(r"compl_011C[0-9A-Za-z]{20}")
REQUEST_ID = re.compile(r"req_011C[0-9A-Za-z]{20}")
SSE = "text/event-stream; charset=utf-8"

# The API's own texts. The "\n" in them is a backslash and an n, not a newline:
# the API's JSON shows `\\n\\n`.
START_ERROR = 'prompt must start with "\\n\\nHuman:" turn'
END_ERROR = 'prompt must end with "\\n\\nAssistant:" turn'


def complete(http: httpx.Client, version: str, **fields: Any) -> httpx.Response:
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens_to_sample": 300, **fields}
    body = {k: v for k, v in body.items() if v is not ...}
    return http.post("/v1/complete", json=body, headers={"anthropic-version": version})


def completion_text(http: httpx.Client, version: str, **fields: Any) -> dict[str, Any]:
    response = complete(http, version, **fields)
    assert response.status_code == 200, response.text
    return response.json()


def stream(http: httpx.Client, version: str, **fields: Any) -> list[tuple[str | None, str]]:
    response = complete(http, version, stream=True, **fields)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == SSE
    assert REQUEST_ID.fullmatch(response.headers["request-id"])
    return sse_events(response.text)


def assert_error(response: httpx.Response, status: int, error_type: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {"type": "error", "error": {"type": error_type, "message": message},
                    "request_id": response.headers["request-id"]}
    assert REQUEST_ID.fullmatch(body["request_id"])


# -- streams ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", HEAD_VERSIONS)
def test_head_stream_is_named_incremental_events_without_done(http: httpx.Client, version: str) -> None:
    events = stream(http, version)
    assert {name for name, _ in events} == {"completion", "ping"}
    assert all(data != "[DONE]" for _, data in events)
    assert ("ping", '{"type":"ping"}') in events
    completions = [json.loads(data) for name, data in events if name == "completion"]
    assert all(set(c) == HEAD_KEYS and c["type"] == "completion" for c in completions)
    assert len({c["id"] for c in completions}) == 1
    assert COMPLETION_ID.fullmatch(completions[0]["id"]) and completions[0]["log_id"] == completions[0]["id"]
    assert all(c["model"] == MODEL for c in completions)

    *pieces, final = completions
    assert len(pieces) > 3
    assert all(c["stop_reason"] is None and c["stop"] is None for c in pieces)
    assert final["completion"] == "" and final["stop_reason"] == "stop_sequence" and final["stop"] == HUMAN
    texts = [c["completion"] for c in pieces]
    whole = completion_text(http, version)["completion"]
    # Incremental: the pieces add up to the answer exactly once, not as growing prefixes.
    assert "".join(texts) == whole
    assert sum(map(len, texts)) == len(whole)
    assert texts[0].startswith(" ") and not texts[1].startswith(texts[0])


def test_2023_01_01_stream_is_data_only_cumulative_and_ends_with_done(http: httpx.Client) -> None:
    events = stream(http, "2023-01-01")
    assert events[-1] == (None, "[DONE]")
    assert [data for _, data in events].count("[DONE]") == 1
    assert {name for name, _ in events} == {None, "ping"}, "only pings are named under 2023-01-01"
    completions = [json.loads(data) for name, data in events[:-1] if name is None]
    assert all(set(c) == LEGACY_KEYS for c in completions)
    assert all(c["truncated"] is False and c["exception"] is None for c in completions)
    assert len({c["id"] for c in completions}) == 1 and completions[0]["log_id"] == completions[0]["id"]

    texts = [c["completion"] for c in completions]
    assert len(texts) > 3
    for before, after in zip(texts, texts[1:]):
        assert after.startswith(before), (before, after)
    assert all(len(a) < len(b) for a, b in zip(texts[:-2], texts[1:-1])), "each text event adds text"
    *pieces, final = completions
    assert all(c["stop_reason"] is None and c["stop"] is None for c in pieces)
    assert final["stop_reason"] == "stop_sequence" and final["stop"] == HUMAN
    whole = completion_text(http, "2023-01-01")
    assert final["completion"] == whole["completion"] == texts[-2]
    assert texts[0].startswith(" ")


@pytest.mark.parametrize("version", VERSIONS)
def test_stream_hitting_max_tokens_ends_with_max_tokens(http: httpx.Client, version: str) -> None:
    events = [json.loads(data) for name, data in stream(http, version, max_tokens_to_sample=5)
              if name != "ping" and data != "[DONE]"]
    final = events[-1]
    assert final["stop_reason"] == "max_tokens" and final["stop"] is None
    whole = completion_text(http, version, max_tokens_to_sample=5)
    assert whole["stop_reason"] == "max_tokens" and whole["stop"] is None
    streamed = final["completion"] if version == "2023-01-01" else "".join(e["completion"] for e in events)
    assert streamed == whole["completion"]


# -- non-streamed answers ----------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_non_streamed_fields_per_version(http: httpx.Client, version: str) -> None:
    response = complete(http, version)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == (LEGACY_KEYS if version == "2023-01-01" else HEAD_KEYS)
    if version == "2023-01-01":
        assert body["exception"] is None and body["truncated"] is False
    assert body["type"] == "completion" and body["model"] == MODEL
    assert COMPLETION_ID.fullmatch(body["id"]) and body["log_id"] == body["id"]


@pytest.mark.parametrize("version", VERSIONS)
def test_natural_end_is_the_built_in_human_stop(http: httpx.Client, version: str) -> None:
    body = completion_text(http, version)
    assert body["stop_reason"] == "stop_sequence" and body["stop"] == HUMAN
    assert body["completion"].startswith(" ") and not body["completion"].startswith("  ")
    assert body["completion"].strip()


def test_max_tokens_to_sample_cuts_the_same_answer_short(http: httpx.Client) -> None:
    whole = completion_text(http, "2023-06-01")["completion"]
    short = completion_text(http, "2023-06-01", max_tokens_to_sample=3)
    assert short["stop_reason"] == "max_tokens" and short["stop"] is None
    assert short["completion"].startswith(" ") and whole.startswith(short["completion"])
    assert len(short["completion"]) < len(whole)


def test_user_stop_sequences_are_honoured(http: httpx.Client) -> None:
    whole = completion_text(http, "2023-06-01")["completion"]
    word = whole.split()[3]
    cut = completion_text(http, "2023-06-01", stop_sequences=[word])
    assert cut["stop_reason"] == "stop_sequence" and cut["stop"] == word
    assert cut["completion"] == whole[: whole.index(word)]
    final = json.loads(stream(http, "2023-06-01", stop_sequences=[word])[-1][1])
    assert final["stop_reason"] == "stop_sequence" and final["stop"] == word


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("streamed", [False, True])
def test_stop_sequences_match_from_the_leading_space(http: httpx.Client, version: str, streamed: bool) -> None:
    words = completion_text(http, version)["completion"].split(" ")
    assert words[0] == ""
    cases = {
        " " + words[1]: "",  # the completion's first word, with its space
        " " + words[1] + " " + words[2]: "",  # spans two streamed pieces
        " ": "",
        words[1]: " ",  # the first word without its space: the space is kept
    }
    for stop, expected in cases.items():
        if not streamed:
            body = completion_text(http, version, stop_sequences=[stop])
            assert (body["completion"], body["stop_reason"], body["stop"]) == (expected, "stop_sequence", stop)
            continue
        payloads = [json.loads(data) for name, data in stream(http, version, stop_sequences=[stop])
                    if name != "ping" and data != "[DONE]"]
        texts = [p["completion"] for p in payloads]
        assert (texts[-1] if version == "2023-01-01" else "".join(texts)) == expected, stop
        assert (payloads[-1]["stop_reason"], payloads[-1]["stop"]) == ("stop_sequence", stop)


def test_a_prefilled_answer_continues_without_an_extra_space(http: httpx.Client) -> None:
    body = completion_text(http, "2023-06-01", prompt="\n\nHuman: Tell me about tide pools\n\nAssistant: Sure,")
    assert body["completion"].strip() and not body["completion"].startswith("  ")


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("Hello, world", START_ERROR),
        ("Hello, world\n\nAssistant:", START_ERROR),
        ("\n\nHuman: Hello, Claude", END_ERROR),
        ("\n\nAssistant: Hello, world\n\nHuman: Hello, Claude\n\nAssistant:", START_ERROR),
        ("\n\nHuman: Hello, Claude\n\nAssistant: Hello, world\n\nHuman: How many toes do dogs have?", END_ERROR),
        ("\n\nHuman: Hello, Claude \nAssistant:", END_ERROR),
        ("", START_ERROR),
    ],
)
def test_rejected_prompts(http: httpx.Client, prompt: str, message: str) -> None:
    response = complete(http, "2023-06-01", prompt=prompt)
    assert_error(response, 400, "invalid_request_error", message)
    assert r'"\\n\\n' in response.text, "the wire shows an escaped backslash, as the API sends it"


@pytest.mark.parametrize(
    "prompt",
    [
        "Human: Hello, Claude\n\nAssistant:",  # no leading blank line
        "\n\nHuman: Hello, Claude:\n\nAssistant: ",  # trailing space
        "You are terse.\n\nHuman: Hello, Claude\n\nAssistant:",  # a system prompt first
        "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell me more\n\nAssistant:",
    ],
)
def test_accepted_prompts(http: httpx.Client, prompt: str) -> None:
    body = completion_text(http, "2023-06-01", prompt=prompt)
    assert body["completion"].startswith(" ") and body["stop_reason"] in ("stop_sequence", "max_tokens")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": ...}, "model: Field required"),
        ({"prompt": ...}, "prompt: Field required"),
        ({"max_tokens_to_sample": ...}, "max_tokens_to_sample: Field required"),
        ({"prompt": 5}, "prompt: Input should be a valid string"),
        ({"max_tokens_to_sample": "many"}, "max_tokens_to_sample: Input should be a valid integer"),
        ({"stop_sequences": "END"}, "stop_sequences: Input should be a valid list"),
        ({"stream": "yes please"}, "stream: Input should be a valid boolean"),
        ({"messages": []}, "messages: Extra inputs are not permitted"),
        ({"max_tokens_to_sample": 0}, "max_tokens_to_sample: Input should be greater than or equal to 1"),
        ({"max_tokens_to_sample": -5}, "max_tokens_to_sample: Input should be greater than or equal to 1"),
        ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        ({"temperature": -0.1}, "temperature: Input should be greater than or equal to 0"),
        ({"top_p": 2}, "top_p: Input should be less than or equal to 1"),
        ({"top_k": -1}, "top_k: Input should be greater than or equal to 0"),
    ],
)
def test_missing_or_ill_typed_fields_name_the_field(http: httpx.Client, fields: dict, message: str) -> None:
    response = complete(http, "2023-06-01", **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(message)


def test_sampling_parameters_in_range_are_accepted(http: httpx.Client) -> None:
    body = completion_text(http, "2023-06-01", temperature=0, top_p=1, top_k=5, metadata={"user_id": "u-1"})
    assert body["completion"] == completion_text(http, "2023-06-01")["completion"]


def test_unknown_model_is_404(http: httpx.Client) -> None:
    assert_error(complete(http, "2023-06-01", model="claude-9"), 404, "not_found_error", "model: claude-9")


def test_messages_only_model_is_refused_with_the_apis_words(http: httpx.Client) -> None:
    response = complete(http, "2023-06-01", model="claude-3-haiku-20240307")
    assert_error(response, 400, "invalid_request_error",
                 '"claude-3-haiku-20240307" is not supported on this API. Please use the Messages API instead.')


def test_an_alias_of_a_completions_model_is_served(http: httpx.Client) -> None:
    body = completion_text(http, "2023-06-01", model="claude-2")
    assert body["model"] == "claude-2" and body["completion"].startswith(" ")


@pytest.mark.parametrize("version", VERSIONS)
def test_errors_are_not_given_legacy_fields(http: httpx.Client, version: str) -> None:
    assert_error(complete(http, version, prompt="Hello, world"), 400, "invalid_request_error", START_ERROR)


# -- the official SDK ---------------------------------------------------------------------


def sdk_body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": PROMPT, "max_tokens_to_sample": 300, **fields}


def test_sdk_raw_post(client: anthropic.Anthropic, http: httpx.Client) -> None:
    body = client.post("/v1/complete", body=sdk_body(), cast_to=object)
    assert isinstance(body, dict) and set(body) == HEAD_KEYS
    assert body["completion"] == completion_text(http, "2026-10-21")["completion"]
    assert body["stop_reason"] == "stop_sequence" and body["stop"] == HUMAN


def test_sdk_raw_stream(client: anthropic.Anthropic) -> None:
    events = client.post("/v1/complete", body=sdk_body(stream=True), cast_to=object, stream=True,
                         stream_cls=anthropic.Stream[object])
    chunks = list(events)
    assert chunks and all(c["type"] == "completion" for c in chunks)
    whole = client.post("/v1/complete", body=sdk_body(), cast_to=object)
    assert "".join(c["completion"] for c in chunks) == whole["completion"]
    assert chunks[-1]["stop_reason"] == "stop_sequence"


def test_sdk_pinned_to_2023_01_01_sees_no_named_events(client: anthropic.Anthropic) -> None:
    # The current SDK yields only named events: a data-only stream gives it nothing.
    events = client.post("/v1/complete", body=sdk_body(stream=True), cast_to=object, stream=True,
                         stream_cls=anthropic.Stream[object],
                         options={"headers": {"anthropic-version": "2023-01-01"}})
    assert list(events) == []


def test_sdk_raises_bad_request_with_the_apis_message(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/complete", body=sdk_body(prompt="Hello, world"), cast_to=object)
    assert caught.value.body["error"]["message"] == START_ERROR
    assert caught.value.request_id and REQUEST_ID.fullmatch(caught.value.request_id)


# -- errors from the backend --------------------------------------------------------------


@pytest.fixture(scope="module")
def failing() -> Any:
    with ServerThread(backend=FailingBackend()) as running:
        headers = {"x-api-key": "sk-ant-test"}
        with httpx.Client(base_url=running.base_url, headers=headers, timeout=30) as raw:
            yield raw


def test_mid_stream_error_under_2023_01_01_is_data_only_without_done(failing: httpx.Client) -> None:
    response = complete(failing, "2023-01-01", stream=True)
    assert response.status_code == 200 and response.headers["content-type"] == SSE
    events = sse_events(response.text)
    assert all(name is None for name, _ in events)
    assert "[DONE]" not in response.text and "event: error" not in response.text
    *texts, error = [json.loads(data) for _, data in events]
    assert [t["completion"] for t in texts] == [" Tide", " Tide pools"]
    assert all(t["truncated"] is False and t["exception"] is None for t in texts)
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                     "request_id": response.headers["request-id"]}


@pytest.mark.parametrize("version", HEAD_VERSIONS)
def test_mid_stream_error_under_head_is_a_named_error_event(failing: httpx.Client, version: str) -> None:
    response = complete(failing, version, stream=True)
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["completion", "completion", "error"]
    assert [json.loads(data)["completion"] for _, data in events[:2]] == [" Tide", " pools"]
    assert json.loads(events[-1][1])["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert "[DONE]" not in response.text


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("streamed", [False, True])
def test_error_before_any_text_is_an_http_error(failing: httpx.Client, version: str, streamed: bool) -> None:
    response = complete(failing, version, stream=streamed, prompt="\n\nHuman: fail early\n\nAssistant:")
    assert_error(response, 529, "overloaded_error", "Overloaded")


def test_error_in_a_non_streamed_answer_is_an_http_error(failing: httpx.Client) -> None:
    assert_error(complete(failing, "2023-01-01"), 529, "overloaded_error", "Overloaded")
