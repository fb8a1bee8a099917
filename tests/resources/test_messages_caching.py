"""Prompt caching over HTTP, through the official SDK (strict response validation):
what the usage of the built-in model and of scripted replies reports as a
conversation goes on, on a cache clock the admin API moves forward.

The engine's rules one by one: tests/test_prompt_cache.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread, sse_events
from fake_openai import FakeOpenAI

from dateline import Settings, tokenizer

MODEL = "claude-sonnet-4-5"  # caches from 1,024 tokens
LONG = " ".join(f"Rule {i}: answer questions on kelp with care." for i in range(300))  # 3,000 tokens
FAST = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


@pytest.fixture(scope="module")
def client(served: ServerThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=served.base_url, api_key="sk-ant-cache-one", max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture(autouse=True)
def cache(served: ServerThread) -> Iterator[httpx.Client]:
    """The admin API of the module's server; every test starts with an empty cache."""
    with httpx.Client(base_url=served.base_url, timeout=10) as admin:
        assert admin.delete("/_dateline/prompt-cache").status_code == 200
        yield admin


def advance(cache: httpx.Client, seconds: float) -> None:
    response = cache.post("/_dateline/prompt-cache/clock", json={"advance": seconds})
    assert response.status_code == 200, response.text


def system(text: str = LONG, control: dict[str, Any] | None = FAST) -> list[dict[str, Any]]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if control is not None:
        block["cache_control"] = control
    return [block]


def said(text: str, control: dict[str, Any] | None = FAST) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if control is not None:
        block["cache_control"] = control
    return {"role": "user", "content": [block]}


def figures(usage: Any) -> tuple[int, int, int, int, int]:
    """(input, cache read, cache creation, of it 5m, of it 1h)."""
    u = usage if isinstance(usage, dict) else usage.model_dump()
    creation = u["cache_creation"]
    return (
        u["input_tokens"],
        u["cache_read_input_tokens"],
        u["cache_creation_input_tokens"],
        creation["ephemeral_5m_input_tokens"],
        creation["ephemeral_1h_input_tokens"],
    )


def counted(client: anthropic.Anthropic, params: dict[str, Any]) -> int:
    fields = {k: v for k, v in params.items() if k not in ("max_tokens", "stream")}
    return client.messages.count_tokens(**fields).input_tokens


def create(client: anthropic.Anthropic, params: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """The usage of a non-streamed answer, checked whole: input + read + creation is the prompt."""
    message = client.messages.create(**params)
    got = figures(message.usage)
    assert got[0] + got[1] + got[2] == counted(client, params)
    assert got[2] == got[3] + got[4]
    return got


def stream(client: anthropic.Anthropic, params: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """The usage of a streamed answer as ``message_start`` has it; ``message_delta`` repeats the counts."""
    start = delta = None
    for event in client.messages.create(**params, stream=True):
        if event.type == "message_start":
            start = event.message.usage
        elif event.type == "message_delta":
            delta = event.usage
    assert start is not None and delta is not None
    got = figures(start)
    assert (delta.input_tokens, delta.cache_read_input_tokens, delta.cache_creation_input_tokens) == got[:3]
    assert got[0] + got[1] + got[2] == counted(client, params)
    return got


def conversation(client: anthropic.Anthropic, send) -> list[tuple[int, int, int, int, int]]:
    """Three turns: the system prompt and each last question marked; then the system prompt changes."""
    first = said("Tell me about kelp.")
    turn1 = {"model": MODEL, "max_tokens": 40, "system": system(), "messages": [first]}
    usages = [send(client, turn1)]
    reply = client.messages.create(**{**turn1, "max_tokens": 40}).content[0].text  # the same answer again
    messages = [said("Tell me about kelp.", None), {"role": "assistant", "content": reply}, said("And sea otters?")]
    turn2 = {**turn1, "messages": messages}
    usages.append(send(client, turn2))
    turn3 = {**turn2, "system": system(LONG + " Be brief.")}
    usages.append(send(client, turn3))
    return usages


# --------------------------------------------------------------------------
# A conversation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("send", [create, stream], ids=["create", "stream"])
def test_a_conversation_writes_then_reads(client: anthropic.Anthropic, send) -> None:
    (in1, read1, made1, fast1, hour1), (in2, read2, made2, fast2, _), (in3, read3, made3, _, _) = conversation(
        client, send
    )
    # Turn 1 writes everything up to its last breakpoint: only the request's framing is left.
    assert read1 == 0 and made1 == fast1 > 3000 and hour1 == 0 and in1 == 3
    # Turn 2 reads what turn 1 wrote and writes its own new turns.
    assert read2 == made1 and 0 < made2 == fast2 < 200 and in2 == 3
    # Another system prompt: everything after it is another prefix, written again.
    assert read3 == 0 and made3 > read2 + made2 and in3 == 3


def test_streamed_usage_equals_non_streamed(client: anthropic.Anthropic, cache: httpx.Client) -> None:
    created = conversation(client, create)
    cache.delete("/_dateline/prompt-cache")
    assert conversation(client, stream) == created


def test_message_delta_repeats_the_counts_without_the_breakdown(served: ServerThread) -> None:
    body = {"model": MODEL, "max_tokens": 20, "stream": True, "system": system(), "messages": [said("Hello.")]}
    headers = {"x-api-key": "sk-ant-raw", "anthropic-version": "2023-06-01"}
    for _ in range(2):  # a write, then a read
        response = httpx.post(f"{served.base_url}/v1/messages", json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        events = {name: json.loads(data) for name, data in sse_events(response.text)}
        start, delta = events["message_start"]["message"]["usage"], events["message_delta"]["usage"]
        assert "cache_creation" in start and "cache_creation" not in delta
        keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        assert [delta[k] for k in keys] == [start[k] for k in keys]
    assert start["cache_read_input_tokens"] > 3000 and start["cache_creation_input_tokens"] == 0


def test_an_entry_is_readable_once_its_answer_has_begun(client: anthropic.Anthropic) -> None:
    params = {"model": MODEL, "max_tokens": 200, "system": system(), "messages": [said("Tell me a long story.")]}
    events = client.messages.create(**params, stream=True)
    first = next(iter(events))
    assert first.type == "message_start" and first.message.usage.cache_creation_input_tokens > 3000
    # The first stream is still open: its entries are already there.
    assert create(client, params)[1] == first.message.usage.cache_creation_input_tokens
    events.close()


# --------------------------------------------------------------------------
# Times to live, on the cache clock
# --------------------------------------------------------------------------


def test_entries_expire_at_their_ttl(client: anthropic.Anthropic, cache: httpx.Client) -> None:
    five = {"model": MODEL, "max_tokens": 5, "system": system(), "messages": [said("Five minutes.")]}
    hour = {"model": MODEL, "max_tokens": 5, "system": system(control=HOUR), "messages": [said("An hour.", HOUR)]}
    assert create(client, five)[2] > 0 and create(client, hour)[4] > 0
    advance(cache, 300)
    assert create(client, five)[1] == 0  # gone at 5 minutes: written again
    advance(cache, 3599 - 300)
    assert create(client, hour)[1] > 0  # still there a second before the hour
    advance(cache, 3600)
    assert create(client, hour)[1] == 0


def test_a_hit_refreshes_the_ttl(client: anthropic.Anthropic, cache: httpx.Client) -> None:
    params = {"model": MODEL, "max_tokens": 5, "system": system(), "messages": [said("Refresh me.")]}
    written = create(client, params)[2]
    for _ in range(3):  # 15 minutes in all, each read within 5 minutes of the one before
        advance(cache, 299)
        assert create(client, params)[1] == written
    advance(cache, 300)
    assert create(client, params)[1] == 0


def test_the_admin_api_shows_clears_and_moves_the_clock(client: anthropic.Anthropic, cache: httpx.Client) -> None:
    before = cache.get("/_dateline/prompt-cache").json()
    moved = cache.post("/_dateline/prompt-cache/clock", json={"advance": 90.5}).json()
    assert moved["advanced"] == before["advanced"] + 90.5 and moved["now"] >= before["now"] + 90.5
    params = {"model": MODEL, "max_tokens": 5, "system": system(), "messages": [said("Clear me.")]}
    create(client, params)
    assert create(client, params)[1] > 0
    assert cache.delete("/_dateline/prompt-cache").json()["advanced"] == moved["advanced"]
    assert create(client, params)[1] == 0


@pytest.mark.parametrize(
    "body",
    [b'{"advance": -1}', b'{"advance": "60"}', b'{"advance": 1e999}', b'{"back": 1}', b"[]", b"{not json", b"true"],
)
def test_the_clock_refuses_what_is_not_seconds_forward(cache: httpx.Client, body: bytes) -> None:
    response = cache.post("/_dateline/prompt-cache/clock", content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_cache_admin_routes_need_the_admin_token() -> None:
    with ServerThread(Settings(admin_token="t")) as guarded:
        for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/clock")]:
            url = f"{guarded.base_url}/_dateline/prompt-cache{path}"
            refused = httpx.request(method, url, json={"advance": 1} if method == "POST" else None)
            assert refused.status_code == 401
            allowed = httpx.request(
                method, url, json={"advance": 1} if method == "POST" else None, headers={"authorization": "Bearer t"}
            )
            assert allowed.status_code == 200, allowed.text


# --------------------------------------------------------------------------
# What is written, and where a read looks
# --------------------------------------------------------------------------


def test_below_the_model_minimum_nothing_is_written(client: anthropic.Anthropic) -> None:
    short = {"model": MODEL, "max_tokens": 5, "system": system("Be brief."), "messages": [said("Hello.")]}
    for _ in range(2):
        total = counted(client, short)
        assert create(client, short) == (total, 0, 0, 0, 0)
    # Haiku 4.5 caches from 4,096 tokens: the prompt Sonnet 4.5 caches is too short for it.
    haiku = {**short, "model": "claude-haiku-4-5", "system": system()}
    assert create(client, haiku)[2] == 0 and create(client, haiku)[1] == 0
    assert create(client, {**haiku, "model": MODEL})[2] > 0


def test_a_read_looks_back_20_blocks_from_a_breakpoint(client: anthropic.Anthropic) -> None:
    """The API's example: turn 1 writes at block 10; turn 2 (breakpoint on 15) reads
    it and writes 15; turn 3, its breakpoint 25 blocks after block 10, looks at 35..16 and misses."""
    facts = [{"type": "text", "text": f"Fact {n} about kelp forests."} for n in range(40)]

    def turn(*marks: int) -> dict[str, Any]:
        content = [{**b, "cache_control": FAST} if n in marks else b for n, b in enumerate(facts[: max(marks) + 1])]
        return {"model": MODEL, "max_tokens": 5, "system": LONG, "messages": [{"role": "user", "content": content}]}

    first = create(client, turn(10))
    assert first[1] == 0
    second = create(client, turn(15))
    assert second[1] == first[2]  # block 10, from 5 blocks back
    assert create(client, turn(35))[1] == 0  # 35..16: block 15 is 20 back, one too many
    assert create(client, turn(34))[1] == second[1] + second[2]  # 34..15 reaches it


def test_another_key_or_model_misses(client: anthropic.Anthropic, served: ServerThread) -> None:
    params = {"model": MODEL, "max_tokens": 5, "system": system(), "messages": [said("Scoped.")]}
    written = create(client, params)[2]
    with anthropic.Anthropic(
        base_url=served.base_url, api_key="sk-ant-cache-two", max_retries=0, _strict_response_validation=True
    ) as other:
        assert create(other, params)[1] == 0
    assert create(client, {**params, "model": "claude-sonnet-4-6"})[1] == 0
    # An alias names the same model: the same entries.
    assert create(client, {**params, "model": "claude-sonnet-4-5-20250929"})[1] == written


def test_automatic_caching_marks_the_last_block(client: anthropic.Anthropic) -> None:
    turn1 = {"model": MODEL, "max_tokens": 30, "system": LONG, "cache_control": FAST, "messages": [said("Hi.", None)]}
    inputs, read, made, _, _ = create(client, turn1)
    assert (inputs, read) == (3, 0) and made > 3000
    reply = client.messages.create(**turn1).content[0].text
    turn2 = {**turn1, "messages": [*turn1["messages"], {"role": "assistant", "content": reply}, said("More.", None)]}
    inputs2, read2, made2, _, _ = create(client, turn2)
    # The breakpoint moved to the new last block: the earlier one is read, the new turns written.
    assert (inputs2, read2) == (3, made) and 0 < made2 < 200
    assert create(client, {**turn2, "cache_control": HOUR})[:3] == (3, made + made2, 0)


def test_mixed_ttls_split_the_writes(client: anthropic.Anthropic, cache: httpx.Client) -> None:
    rules, tides = LONG, LONG.replace("kelp", "tides")
    hour_only = {"model": MODEL, "max_tokens": 5, "system": system(rules, HOUR), "messages": [said("Hi.", None)]}
    a = create(client, hour_only)[4]  # the first system block, for an hour
    params = {**hour_only, "system": system(rules, HOUR) + system(tides, HOUR), "messages": [said("Hi.")]}
    inputs, read, made, fast, hour = create(client, params)
    # Read A (block 1); 1h writes B - A (block 2); 5m writes C - B (the question).
    assert read == a and hour > 3000 and 0 < fast < 20 and made == fast + hour and inputs == 3
    advance(cache, 301)  # the 5-minute entry is gone, the hour's live on
    assert create(client, params) == (3, read + hour, fast, fast, 0)


def test_max_tokens_0_prewarms(client: anthropic.Anthropic) -> None:
    params = {"model": MODEL, "max_tokens": 0, "system": system(), "messages": [said("Warm up.")]}
    message = client.messages.create(**params)
    assert message.content == [] and message.stop_reason == "max_tokens" and message.usage.output_tokens == 0
    assert message.usage.cache_creation_input_tokens > 3000
    assert create(client, {**params, "max_tokens": 20})[1] == message.usage.cache_creation_input_tokens


def test_count_tokens_counts_the_whole_prompt(client: anthropic.Anthropic) -> None:
    params = {"model": MODEL, "system": system(), "messages": [said("Count me.")]}
    before = client.messages.count_tokens(**params).input_tokens
    inputs, read, made, _, _ = create(client, {**params, "max_tokens": 5})
    assert client.messages.count_tokens(**params).input_tokens == before == inputs + read + made


# --------------------------------------------------------------------------
# Other sources of answers
# --------------------------------------------------------------------------


def test_scripted_replies_cache_unless_their_usage_is_given(client: anthropic.Anthropic, rules) -> None:
    rules(
        [
            {"match": {"last_user": "^Scripted"}, "reply": {"text": "Kelp."}},
            {"match": {"last_user": "^Fixed"}, "reply": {"text": "Kelp.", "usage": {"input_tokens": 7}}},
        ]
    )
    params = {"model": MODEL, "max_tokens": 5, "system": system(), "messages": [said("Scripted.")]}
    written = create(client, params)[2]
    assert written > 3000 and create(client, params)[1] == written
    fixed = {**params, "messages": [said("Fixed.")]}
    for _ in range(2):
        assert figures(client.messages.create(**fixed).usage) == (7, 0, 0, 0, 0)


def test_an_upstream_reports_its_own_usage(tmp_path: Path) -> None:
    """Behind a router: the model sent upstream keeps the upstream's usage, the others are cached."""
    with FakeOpenAI() as upstream:
        config = tmp_path / "dateline.toml"
        config.write_text(
            f'[upstreams.local]\nkind = "openai"\nbase_url = "{upstream.base_url}/v1"\n'
            '[models."claude-sonnet-4-6"]\nupstreams = ["local"]\n'
        )
        with ServerThread(config=config) as routed:
            with anthropic.Anthropic(base_url=routed.base_url, api_key="sk-ant-x", max_retries=0) as sdk:
                params = {"model": "claude-sonnet-4-6", "max_tokens": 5, "system": system(), "messages": [said("Hi.")]}
                # Even an upstream that weighs the prompt exactly as Dateline does.
                counts = {"prompt_tokens": tokenizer.count_request(params), "completion_tokens": 3, "total_tokens": 0}
                for _ in range(2):
                    upstream.reply("Hello from upstream.", usage=counts)
                    usage = sdk.messages.create(**params).usage
                    assert usage.input_tokens == counts["prompt_tokens"]
                    assert (usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0) == (0, 0)
                assert len(upstream.requests) == 2
                builtin = {**params, "model": MODEL}
                assert create(sdk, builtin)[2] > 3000 and create(sdk, builtin)[1] > 3000


def test_batches_cache_in_a_scope_of_their_own(client: anthropic.Anthropic) -> None:
    params = {"model": MODEL, "max_tokens": 5, "system": system(), "messages": [said("Batched.")]}

    def batch() -> Any:
        created = client.messages.batches.create(requests=[{"custom_id": "q", "params": params}])
        deadline = time.monotonic() + 60
        while client.messages.batches.retrieve(created.id).processing_status != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (line,) = client.messages.batches.results(created.id)
        assert line.result.type == "succeeded"
        return line.result.message.usage

    first = batch()
    assert first.cache_creation_input_tokens > 3000 and first.service_tier == "batch"
    assert batch().cache_read_input_tokens == first.cache_creation_input_tokens
    # A batch keeps no API key: its entries are not this key's.
    assert create(client, params)[1] == 0
