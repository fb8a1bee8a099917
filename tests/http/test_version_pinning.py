"""Version pinning per key, Stripe-style (beyond the API): a key's default
``anthropic-version`` serves requests that send none, the answer names the
version that served it, a key may accept only some versions, and a key
without a pin still needs the header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread, sse_events

MODEL = "claude-sonnet-4-5"
#: ``temperature`` is a field of 2023-06-01's Messages request that head has no place for.
WARM: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 20,
    "temperature": 0.5,
    "messages": [{"role": "user", "content": "Hello"}],
}
COLD = {k: v for k, v in WARM.items() if k != "temperature"}
#: WARM, as the SDK (which knows head's fields only) sends it.
SDK_WARM: dict[str, Any] = {**COLD, "extra_body": {"temperature": 0.5}}
PROMPT = "\n\nHuman: Tell me about tide pools\n\nAssistant:"
COMPLETE = {"model": "claude-2.1", "prompt": PROMPT, "max_tokens_to_sample": 50, "stream": True}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Iterator[tuple[ServerThread, dict[str, str]]]:
    """A server and the secrets of its keys: pinned to 2023-06-01, to 2023-01-01,
    pinned and kept to that version only, kept to head only, and plain."""
    specs = {
        "pinned": {"default_version": "2023-06-01"},
        "legacy": {"default_version": "2023-01-01"},
        "strict": {"default_version": "2023-06-01", "accepted_versions": ["2023-06-01"]},
        "head_only": {"accepted_versions": ["2026-10-21"]},
        "plain": {},
    }
    with ServerThread(data_dir=str(tmp_path_factory.mktemp("pinning"))) as server:
        secrets = {}
        for name, spec in specs.items():
            response = httpx.post(f"{server.base_url}/_dateline/keys", json={"name": name, **spec}, timeout=30)
            assert response.status_code == 200, response.text
            secrets[name] = response.json()["secret"]
        yield server, secrets


def send(server: ServerThread, key: str, path: str, body: dict[str, Any], version: str | None) -> httpx.Response:
    headers = {"x-api-key": key, **({"anthropic-version": version} if version else {})}
    return httpx.post(f"{server.base_url}{path}", json=body, headers=headers, timeout=30)


def sdk(server: ServerThread, key: str, *, header: bool) -> anthropic.Anthropic:
    """The official SDK, which sends its own anthropic-version unless told to leave it out."""
    extra = {} if header else {"default_headers": {"anthropic-version": anthropic.Omit()}}
    return anthropic.Anthropic(base_url=server.base_url, api_key=key, max_retries=0, timeout=30, **extra)


def test_a_pinned_key_gets_its_version_without_the_header(keys):
    server, secrets = keys
    response = send(server, secrets["pinned"], "/v1/messages", WARM, None)
    assert response.status_code == 200, response.text  # temperature: accepted under 2023-06-01
    assert response.headers["anthropic-version"] == "2023-06-01"
    # The same request at head is refused: the pin, not leniency, let it through.
    refused = send(server, secrets["pinned"], "/v1/messages", WARM, "2026-10-21")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "temperature: Extra inputs are not permitted"
    assert refused.headers["anthropic-version"] == "2026-10-21"  # a pinned key is always told


def test_the_sdk_without_its_header_is_served_at_the_pin(keys):
    server, secrets = keys
    with sdk(server, secrets["pinned"], header=False) as client:
        raw = client.messages.with_raw_response.create(**SDK_WARM)
        assert raw.headers["anthropic-version"] == "2023-06-01"
        assert raw.parse().content
        with client.messages.stream(**SDK_WARM) as stream:
            assert stream.response.headers["anthropic-version"] == "2023-06-01"
            assert stream.get_final_message().content
    with sdk(server, secrets["pinned"], header=True) as client:
        raw = client.messages.with_raw_response.create(**COLD)
        assert raw.headers["anthropic-version"] == anthropic._constants.ANTHROPIC_API_VERSION


def test_a_key_without_a_pin_still_needs_the_header(keys):
    server, secrets = keys
    for key in (secrets["plain"], secrets["head_only"]):
        response = send(server, key, "/v1/messages", COLD, None)
        assert response.status_code == 400
        assert response.json()["error"] == {
            "type": "invalid_request_error",
            "message": "anthropic-version: header is required",
        }
    answered = send(server, secrets["plain"], "/v1/messages", COLD, "2023-06-01")
    assert answered.status_code == 200 and "anthropic-version" not in answered.headers
    with sdk(server, secrets["plain"], header=False) as client, pytest.raises(anthropic.BadRequestError):
        client.messages.create(**COLD)


def test_the_pin_decides_the_complete_stream_format(keys):
    server, secrets = keys
    legacy = send(server, secrets["legacy"], "/v1/complete", COMPLETE, None)
    assert legacy.status_code == 200 and legacy.headers["anthropic-version"] == "2023-01-01"
    events = sse_events(legacy.text)
    assert events[-1] == (None, "[DONE]") and {name for name, _ in events} == {None, "ping"}
    texts = [json.loads(data)["completion"] for name, data in events if name is None and data != "[DONE]"]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))  # cumulative
    current = send(server, secrets["pinned"], "/v1/complete", COMPLETE, None)
    assert current.headers["anthropic-version"] == "2023-06-01"
    assert {name for name, _ in sse_events(current.text)} == {"completion", "ping"}


def test_a_key_may_accept_only_some_versions(keys):
    server, secrets = keys
    refused = send(server, secrets["head_only"], "/v1/messages", COLD, "2023-06-01")
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "type": "invalid_request_error",
        "message": 'anthropic-version: "2023-06-01" is not accepted for this API key (it accepts 2026-10-21)',
    }
    assert send(server, secrets["head_only"], "/v1/messages", COLD, "2026-10-21").status_code == 200
    # The SDK's own version, where the key accepts only its pin:
    with sdk(server, secrets["strict"], header=True) as client, pytest.raises(anthropic.BadRequestError) as error:
        client.messages.create(**COLD)
    assert "is not accepted for this API key (it accepts 2023-06-01)" in error.value.message
    with sdk(server, secrets["strict"], header=False) as client:
        assert client.messages.create(**SDK_WARM).content
    # An unknown version is still just unknown.
    unknown = send(server, secrets["head_only"], "/v1/messages", COLD, "2024-01-01")
    assert unknown.json()["error"]["message"] == 'anthropic-version: "2024-01-01" is not a valid version'


def test_a_batch_made_without_the_header_keeps_the_pin(keys):
    server, secrets = keys
    body = {"requests": [{"custom_id": "a", "params": WARM}]}
    response = send(server, secrets["pinned"], "/v1/messages/batches", body, None)
    assert response.status_code == 200, response.text
    assert response.headers["anthropic-version"] == "2023-06-01"
    with sdk(server, secrets["pinned"], header=False) as client:
        batch = client.messages.batches.retrieve(response.json()["id"])
        assert batch.id == response.json()["id"]
