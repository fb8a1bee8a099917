"""Choosing the backend by model, from the configuration: a Dateline in front
of another Dateline (the upstream), configured the ways users configure it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from conftest import ServerThread, free_port

from dateline.settings import Settings

HELLO = [{"role": "user", "content": "Tell me about tide pools"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


def sdk(server: ServerThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="sk-test", max_retries=0)


def test_one_flag_upstream_serves_every_model(upstream: ServerThread):
    with ServerThread(Settings(anthropic_upstream=upstream.base_url)) as front:
        upstream.reset()
        direct = sdk(upstream).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO)
        via = sdk(front).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO)
        assert via.content == direct.content and via.model == "claude-sonnet-4-5"
        assert [r["path"] for r in upstream.requests()] == ["/v1/messages", "/v1/messages"]
        # Any id goes upstream; the upstream's verdict on it comes back.
        with pytest.raises(anthropic.NotFoundError) as refused:
            sdk(front).messages.create(model="no-such-model", max_tokens=64, messages=HELLO)
        assert refused.value.body["error"]["message"] == "model: no-such-model"


def test_configured_models_are_routed_and_listed(upstream: ServerThread, tmp_path: Path):
    config = tmp_path / "dateline.toml"
    config.write_text(
        f"""
[upstreams.up]
kind = "anthropic"
base_url = "{upstream.base_url}"

[models."house-model"]
upstreams = ["up"]
upstream_model = "claude-haiku-4-5"
display_name = "House model"
max_tokens = 4096
"""
    )
    with ServerThread(Settings(config=config)) as front:
        upstream.reset()
        client = sdk(front)
        answer = client.messages.create(model="house-model", max_tokens=64, messages=HELLO)
        assert answer.model == "house-model"
        [seen] = upstream.requests()
        assert seen["body"]["model"] == "claude-haiku-4-5"
        listed = client.models.retrieve("house-model")
        assert listed.display_name == "House model"
        assert "house-model" in [m.id for m in client.models.list(limit=1000)]
        # Models not configured stay with the built-in model (no [default] route).
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO)
        assert len(upstream.requests()) == 1
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="no-such-model", max_tokens=64, messages=HELLO)


def test_a_dead_upstream_fails_over_to_the_next(upstream: ServerThread, tmp_path: Path):
    config = tmp_path / "dateline.toml"
    config.write_text(
        f"""
[upstreams.dead]
kind = "anthropic"
base_url = "http://127.0.0.1:{free_port()}"

[upstreams.live]
kind = "anthropic"
base_url = "{upstream.base_url}"

[default]
upstreams = ["dead", "live"]
"""
    )
    with ServerThread(Settings(config=config)) as front:
        client = sdk(front)
        for _ in range(3):  # whichever is first in turn, the answer comes from the live one
            assert client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HELLO).content


def test_record_then_replay_through_the_settings(upstream: ServerThread, tmp_path: Path):
    cassette = tmp_path / "cassette.jsonl"
    with ServerThread(Settings(anthropic_upstream=upstream.base_url, record=cassette)) as front:
        recorded = sdk(front).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO)
    assert cassette.read_text().strip()
    # Replaying needs no upstream: this one is never contacted.
    with ServerThread(Settings(anthropic_upstream=f"http://127.0.0.1:{free_port()}", replay=cassette)) as front:
        replayed = sdk(front).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO)
        assert replayed.model_dump() == recorded.model_dump()
        with pytest.raises(anthropic.BadRequestError) as refused:
            sdk(front).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "New"}])
        assert "No recorded upstream exchange matches this request" in refused.value.body["error"]["message"]


def test_batches_reach_an_anthropic_upstream_with_the_configured_key():
    with ServerThread(Settings(api_keys=["sk-upstream"])) as guarded:
        for key, outcome in (("sk-upstream", "succeeded"), (None, "errored")):
            with ServerThread(Settings(anthropic_upstream=guarded.base_url, anthropic_api_key=key)) as front:
                client = sdk(front)
                batch = client.messages.batches.create(
                    requests=[{"custom_id": "a", "params": {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": HELLO}}]
                )
                for _ in range(200):
                    if client.messages.batches.retrieve(batch.id).processing_status == "ended":
                        break
                    time.sleep(0.05)
                [line] = list(client.messages.batches.results(batch.id))
                assert line.result.type == outcome, line
                if outcome == "errored":  # no client key in the background: the upstream says so
                    assert line.result.error.error.type == "authentication_error"
