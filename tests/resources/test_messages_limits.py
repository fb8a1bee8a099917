"""Per-model rules and request limits on POST /v1/messages and /v1/messages/count_tokens,
over real HTTP and through the official SDK.

Each test names the line of the reference spec it follows: limits-and-models.md (the
model table and "(b) Error texts") and prompt-caching.md (§1 where cache_control goes,
§2 the breakpoint limit, §5 TTL order, §10 pre-warming). Messages the spec marks
unknown are Dateline's own wording (README, "Per-model rules and request limits").
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from conftest import ServerThread
from messages_wire import MODEL, PNG, PROMPT, TOOLS, assistant, body, error, ok, post, raw, sdk, user

from dateline.catalog import ModelInfo
from dateline.resources._image_size import dimensions

COUNT = "/v1/messages/count_tokens"
USE_ADAPTIVE = 'Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    with sdk(base_url) as official:
        yield official


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with raw(base_url) as plain:
        yield plain


def both(
    http: httpx.Client, request: dict[str, Any], status: int = 400, kind: str = "invalid_request_error"
) -> tuple[str, str]:
    """The refusal of ``request`` on /v1/messages and of the same conversation on count_tokens."""
    counted = {k: v for k, v in request.items() if k not in ("max_tokens", "stream")}
    return error(post(http, request), status, kind), error(post(http, counted, COUNT), status, kind)


def counts(http: httpx.Client, request: dict[str, Any]) -> int:
    counted = {k: v for k, v in request.items() if k not in ("max_tokens", "stream")}
    response = post(http, counted, COUNT)
    assert response.status_code == 200, response.text
    return response.json()["input_tokens"]


def image(data: str = PNG) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def png(width: int, height: int) -> str:
    """A real grey PNG of this size, base64."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------
# Lifecycle: limits-and-models.md, model table ("Retired (404)")
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["claude-opus-4-1-20250805", "claude-opus-4-1", "claude-3-haiku-20240307", "claude-sonnet-4-0"]
)
def test_retired_models_are_not_found_but_still_listed(
    http: httpx.Client, client: anthropic.Anthropic, model: str
) -> None:
    refused = both(http, body(model=model), 404, "not_found_error")
    assert refused == (f"model: {model}", f"model: {model}")
    with pytest.raises(anthropic.NotFoundError) as raised:
        client.messages.create(model=model, max_tokens=16, messages=[user(PROMPT)])
    assert raised.value.body["error"] == {"type": "not_found_error", "message": f"model: {model}"}
    listed = client.models.retrieve(model)
    assert listed.lifecycle == "retired"


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-5"])
def test_deprecated_models_still_answer(client: anthropic.Anthropic, model: str) -> None:
    assert client.models.retrieve(model).lifecycle == "deprecated"
    message = client.messages.create(model=model, max_tokens=32, messages=[user(PROMPT)])
    assert message.content and message.model == model
    assert client.messages.count_tokens(model=model, messages=[user(PROMPT)]).input_tokens > 0


# --------------------------------------------------------------------------
# max_tokens and the context window: limits-and-models.md (b)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "max_tokens", "expected"),
    [  # the spec's two fixtures, word for word: the model named by its resolved id
        (
            "claude-sonnet-4-5",
            1000000000,
            "max_tokens: 1000000000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5-20250929",
        ),
        (
            "claude-fable-5-1",
            200000,
            "max_tokens: 200000 > 128000, which is the maximum allowed number of output tokens for claude-fable-5-1",
        ),
    ],
)
def test_max_tokens_above_the_model_cap(
    client: anthropic.Anthropic, model: str, max_tokens: int, expected: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:  # streamed: the SDK refuses to wait that long otherwise
        client.messages.create(model=model, max_tokens=max_tokens, messages=[user(PROMPT)], stream=True)
    assert raised.value.body["error"]["message"] == expected


def _long_request(model: str, words: int, max_tokens: int = 1024) -> dict[str, Any]:
    return body(user(" tide" * words), model=model, max_tokens=max_tokens)


def test_prompt_too_long_for_the_window(http: httpx.Client) -> None:
    """(b) "Prompt too long": the input alone over the window; count_tokens still counts it."""
    request = _long_request(MODEL, 201_000)
    tokens = counts(http, request)
    assert tokens > 200_000
    assert error(post(http, request)) == f"prompt is too long: {tokens} tokens > 200000 maximum"
    fits = _long_request(MODEL, 150_000, max_tokens=64000)  # window_stop: the model stops at the window instead
    assert post(http, fits).status_code == 200


def test_the_1m_beta_opens_sonnet_4_5_to_a_million(http: httpx.Client) -> None:
    """Model table: Sonnet 4.5 is 200K, 1M with `context-1m-2025-08-07`."""
    request = _long_request("claude-sonnet-4-5", 201_000)
    tokens = counts(http, request)
    assert error(post(http, request)) == f"prompt is too long: {tokens} tokens > 200000 maximum"
    opened = http.post("/v1/messages", json=request, headers={"anthropic-beta": "context-1m-2025-08-07"})
    assert opened.status_code == 200, opened.text
    other = http.post(
        "/v1/messages", json=_long_request(MODEL, 201_000), headers={"anthropic-beta": "context-1m-2025-08-07"}
    )
    assert error(other).startswith("prompt is too long: ")  # Haiku 4.5 has no 1M window


OLDER = ModelInfo(
    id="claude-older-2k",
    max_input_tokens=2000,
    max_tokens=1500,
    features=frozenset({"messages", "image"}),  # no window_stop, and no thinking at all
)


@pytest.fixture(scope="module")
def older(served: ServerThread) -> Iterator[httpx.Client]:
    """A server whose catalog also lists a model from before the window stop reason."""
    served.state.catalog.add(OLDER)
    with raw(served.base_url) as plain:
        yield plain


def test_input_and_max_tokens_over_the_window_on_a_model_without_window_stop(older: httpx.Client) -> None:
    """(b) "Input + max_tokens over the window (older models, before the stop reason)"."""
    request = body(user(" tide" * 800), model=OLDER.id, max_tokens=1500)
    tokens = counts(older, request)
    assert 800 < tokens < 2000
    assert error(post(older, request)) == (
        f"input length and `max_tokens` exceed context limit: {tokens} + 1500 > 2000, "
        "decrease input length or `max_tokens` and try again"
    )
    assert post(older, {**request, "max_tokens": 2000 - tokens}).status_code == 200
    too_long = body(user(" tide" * 2100), model=OLDER.id, max_tokens=10)
    assert error(post(older, too_long)) == f"prompt is too long: {counts(older, too_long)} tokens > 2000 maximum"


def test_thinking_on_a_model_without_thinking(older: httpx.Client) -> None:
    for thinking in ({"type": "enabled", "budget_tokens": 1024}, {"type": "adaptive"}):
        request = body(model=OLDER.id, max_tokens=1400, thinking=thinking)
        assert error(post(older, request)) == "'claude-older-2k' does not support thinking."
    assert post(older, body(model=OLDER.id, max_tokens=100, thinking={"type": "disabled"})).status_code == 200


# --------------------------------------------------------------------------
# Thinking types and effort: limits-and-models.md, model table and (b)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("claude-opus-5-5", "disabled"),
        ("claude-opus-5-5", "enabled"),
        ("claude-fable-5-1", "disabled"),
        ("claude-opus-4-8", "enabled"),
    ],
)
def test_thinking_types_a_model_refuses(http: httpx.Client, client: anthropic.Anthropic, model: str, kind: str) -> None:
    """(b) "thinking type not allowed", word for word [O55]; count_tokens too."""
    thinking = {"type": kind, "budget_tokens": 1024} if kind == "enabled" else {"type": kind}
    expected = f'"thinking.type.{kind}" is not supported for this model. {USE_ADAPTIVE}'
    assert both(http, body(model=model, max_tokens=2048, thinking=thinking)) == (expected, expected)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model=model, max_tokens=2048, messages=[user(PROMPT)], thinking=thinking)
    assert raised.value.body["error"]["message"] == expected


def test_between_tools_only_where_the_model_has_it(http: httpx.Client) -> None:
    """Model table: Sonnet 5.5's lowest setting is between_tools; older models refuse it (Dateline's wording)."""
    between = {"type": "between_tools"}
    assert ok(http, body(model="claude-sonnet-5-5", thinking=between))["content"]
    assert both(http, body(model="claude-opus-4-8", thinking=between))[0] == (
        f'"thinking.type.between_tools" is not supported for this model. {USE_ADAPTIVE}'
    )
    assert (
        error(post(http, body(model="claude-sonnet-4-5", thinking=between)))
        == "between_tools thinking is not supported on this model"
    )


def test_adaptive_thinking_on_a_model_with_budgets_only(http: httpx.Client) -> None:
    """Haiku 4.5 thinks with `enabled` and a budget; adaptive is refused (the API's text, seen live)."""
    expected = "adaptive thinking is not supported on this model"
    assert both(http, body(thinking={"type": "adaptive"})) == (expected, expected)
    assert ok(http, body(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024}))["content"]


@pytest.mark.parametrize("model", ["claude-opus-5", "claude-haiku-5-5"])
def test_disabled_thinking_only_up_to_effort_high(http: httpx.Client, model: str) -> None:
    """Model table: Opus 5 / Haiku 5.5 take `disabled` at effort high or lower only."""
    disabled = {"type": "disabled"}
    for effort in ("xhigh", "max"):
        request = body(model=model, thinking=disabled, output_config={"effort": effort})
        expected = (
            f"output_config.effort '{effort}' is not supported when thinking is disabled on this model. "
            "Use effort 'high' or below, or enable thinking."
        )
        assert both(http, request) == (expected, expected)
    for effort in ("low", "medium", "high"):
        assert ok(http, body(model=model, thinking=disabled, output_config={"effort": effort}))["content"]
    assert ok(http, body(model=model, thinking=disabled))["content"]  # the model's default effort is high or lower


def test_effort_on_a_model_without_effort(http: httpx.Client, client: anthropic.Anthropic) -> None:
    """(b) "effort unsupported", word for word."""
    expected = "This model does not support the effort parameter."
    assert both(http, body(output_config={"effort": "low"})) == (expected, expected)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=[user(PROMPT)], output_config={"effort": "high"}
        )
    assert raised.value.body["error"]["message"] == expected


@pytest.mark.parametrize(
    ("model", "level"), [("claude-opus-4-5", "max"), ("claude-opus-4-5", "xhigh"), ("claude-sonnet-4-6", "xhigh")]
)
def test_effort_levels_a_model_lacks(http: httpx.Client, model: str, level: str) -> None:
    """Model table: Opus 4.5 has effort but no max; 4.6 has max but not xhigh (Dateline's wording)."""
    expected = f"output_config.effort '{level}' is not supported on this model."
    assert both(http, body(model=model, output_config={"effort": level})) == (expected, expected)
    assert ok(http, body(model=model, output_config={"effort": "high"}))["content"]


# --------------------------------------------------------------------------
# Tool choice, prefill, sampling, system messages: model table and (b)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_forced_tool_choice_on_a_model_that_refuses_it(
    http: httpx.Client, client: anthropic.Anthropic, choice: dict[str, Any]
) -> None:
    """(b) "forced tool use" [O55], count_tokens too."""
    expected = 'tool_choice: type "tool" and "any" are not supported for this model.'
    assert both(http, body(model="claude-opus-5-5", tools=TOOLS, tool_choice=choice)) == (expected, expected)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.count_tokens(model="claude-fable-5-1", messages=[user(PROMPT)], tools=TOOLS, tool_choice=choice)
    assert raised.value.body["error"]["message"] == expected
    assert ok(http, body(model="claude-opus-5-5", tools=TOOLS, tool_choice={"type": "auto"}))["content"]
    assert ok(http, body(model="claude-opus-5", tools=TOOLS, tool_choice=choice))["stop_reason"] == "tool_use"


def test_prefill_on_a_model_that_refuses_it(http: httpx.Client) -> None:
    """Model table: Opus 4.6 on, "prefill → 400" (the API's text, seen in the field)."""
    expected = "This model does not support assistant message prefill. The conversation must end with a user message."
    prefilled = body(user(PROMPT), assistant("Tide pools are"), model="claude-opus-4-8")
    assert both(http, prefilled) == (expected, expected)
    assert ok(http, body(user(PROMPT), assistant("Tide pools are")))["content"]  # Haiku 4.5 still takes it


@pytest.mark.parametrize(("name", "value"), [("temperature", 0.5), ("top_p", 0.9), ("top_k", 5), ("temperature", 0.0)])
def test_sampling_on_a_model_that_refuses_it(http: httpx.Client, name: str, value: float) -> None:
    """Model table: Opus 4.7 on, "temperature/top_p/top_k → 400": an older client's values ride
    beside the head request (versions.md, 2026-10-21) and are judged there."""
    refused = post(http, body(model="claude-opus-4-8", **{name: value}))
    assert error(refused) == f"{name} is deprecated for this model."
    assert ok(http, body(**{name: value}))["content"]  # Haiku 4.5 samples


def test_sampling_defaults_are_accepted(http: httpx.Client) -> None:
    assert ok(http, body(model="claude-opus-4-8", temperature=1.0, top_p=1.0))["content"]


def test_system_messages_on_a_model_without_them(http: httpx.Client) -> None:
    """(b) "mid-conversation system role unsupported", word for word; count_tokens too."""
    conversation = (user("hi"), assistant("Hello."), {"role": "system", "content": "Be brief."}, user(PROMPT))
    expected = "role 'system' is not supported on this model"
    assert both(http, body(*conversation)) == (expected, expected)
    assert ok(http, body(*conversation, model="claude-opus-4-8"))["content"]


# --------------------------------------------------------------------------
# Images and documents: limits-and-models.md (b)
# --------------------------------------------------------------------------


def test_a_base64_image_over_5_mb(http: httpx.Client) -> None:
    big = "A" * (5 * 1024 * 1024 + 4)
    request = body(user([{"type": "text", "text": "Look"}, image(big)]))
    assert both(http, request)[0] == (
        "messages.0.content.1.image.source.base64: image exceeds 5 MB maximum: 5242884 bytes > 5242880 bytes"
    )
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": [image(big)]}
    call = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Oslo"}}
    nested = body(user("hi"), assistant([call]), user([result]), tools=TOOLS)
    assert error(post(http, nested)) == (
        "messages.2.content.0.tool_result.content.0.image.source.base64: image exceeds 5 MB maximum: "
        "5242884 bytes > 5242880 bytes"
    )
    assert ok(http, body(user([image("A" * (5 * 1024 * 1024)), {"type": "text", "text": "Look"}])))["content"]


def test_more_than_100_images_and_documents(http: httpx.Client) -> None:
    """(b) "Too many images/docs (>100)", the 2026 text."""
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Tides turn."}}
    request = body(user([*([image()] * 99), document, document, {"type": "text", "text": "Describe"}]))
    assert both(http, request) == ("too many images and documents: 99 + 2 > 100",) * 2
    assert ok(http, body(user([*([image()] * 99), document, {"type": "text", "text": "Describe"}])))["content"]


def test_the_many_image_size_rule(http: httpx.Client) -> None:
    """(b) "Many-image dimension rule": over 20 images, no side over 2000 pixels."""
    wide = image(png(2001, 1))
    many = body(user([*([image()] * 20), wide, {"type": "text", "text": "Describe"}]))
    expected = (
        "messages.0.content.20.image.source.base64.data: At least one of the image dimensions exceed max allowed "
        "size for many-image requests: 2000 pixels"
    )
    assert both(http, many) == (expected, expected)
    assert ok(http, body(user([*([image()] * 19), wide, {"type": "text", "text": "Describe"}])))["content"]
    assert ok(http, body(user([*([image()] * 20), image(png(2000, 3)), {"type": "text", "text": "Describe"}])))[
        "content"
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(7, 3), (7, 3)),
        (_b64(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 8), (640, 480)),
        (
            _b64(
                b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00"
                + (2999).to_bytes(3, "little")
                + (99).to_bytes(3, "little")
            ),
            (3000, 100),
        ),
        (
            _b64(b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + ((1023) | (767 << 14)).to_bytes(4, "little")),
            (1024, 768),
        ),
        # a JPEG: SOI, an APP1 of metadata, then the frame header (height 1200, width 1600)
        (
            _b64(
                b"\xff\xd8\xff\xe1\x00\x10"
                + b"\x00" * 14
                + b"\xff\xc0\x00\x11\x08"
                + struct.pack(">HH", 1200, 1600)
                + b"\x03"
            ),
            (1600, 1200),
        ),
        (_b64(b"not an image at all"), None),
        ("%%% not base64", None),
    ],
    ids=["png", "gif", "webp_vp8x", "webp_lossless", "jpeg", "unknown", "garbage"],
)
def test_image_dimensions_from_the_header(data: str, size: tuple[int, int] | None) -> None:
    assert dimensions(data) == size


# --------------------------------------------------------------------------
# Pre-warming with max_tokens 0: prompt-caching.md §10
# --------------------------------------------------------------------------


def test_max_tokens_0_is_accepted_plainly(http: httpx.Client, client: anthropic.Anthropic) -> None:
    assert post(http, body(max_tokens=0)).status_code == 200
    assert client.messages.create(model=MODEL, max_tokens=0, messages=[user(PROMPT)]).usage.output_tokens == 0


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ({"stream": True}, "with `stream: true`"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, 'with `thinking.type: "enabled"`'),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            "with `output_config.format`",
        ),
        ({"tools": TOOLS, "tool_choice": {"type": "any"}}, 'with `tool_choice` of type "any" or "tool"'),
        (
            {"tools": TOOLS, "tool_choice": {"type": "tool", "name": "get_weather"}},
            'with `tool_choice` of type "any" or "tool"',
        ),
    ],
    ids=["stream", "thinking", "format", "any", "tool"],
)
def test_max_tokens_0_with_what_it_cannot_go_with(http: httpx.Client, extra: dict[str, Any], what: str) -> None:
    assert (
        error(post(http, body(max_tokens=0, **extra)))
        == f"`max_tokens: 0` pre-warms the prompt cache and cannot be used {what}."
    )


def test_max_tokens_0_in_a_batch(client: anthropic.Anthropic) -> None:
    requests = [
        {"custom_id": "warm", "params": {"model": MODEL, "max_tokens": 0, "messages": [user(PROMPT)]}},
        {"custom_id": "plain", "params": {"model": MODEL, "max_tokens": 16, "messages": [user(PROMPT)]}},
    ]
    batch = client.messages.batches.create(requests=requests)
    deadline = time.monotonic() + 60
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["plain"].type == "succeeded"
    assert results["warm"].type == "errored"
    assert (
        results["warm"].error.error.message
        == "`max_tokens: 0` pre-warms the prompt cache and cannot be used in a Message Batch."
    )


# --------------------------------------------------------------------------
# cache_control: prompt-caching.md §1, §2, §5
# --------------------------------------------------------------------------

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def marked(text: str, control: dict[str, Any] = EPHEMERAL) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": control}


def _cached_request(markers: int, **extra: Any) -> dict[str, Any]:
    """``markers`` breakpoints spread over tools, system and messages (in that order)."""
    tools = [{**TOOLS[0], "cache_control": EPHEMERAL}, TOOLS[1]]
    system = [marked("You are terse."), {"type": "text", "text": "Answer about the sea."}]
    texts = [marked(f"Part {n}.") for n in range(max(0, markers - 2))]
    request = body(user([*texts, {"type": "text", "text": PROMPT}]), tools=tools, system=system, **extra)
    if markers < 2:
        del request["system"][0]["cache_control"]
    if markers < 1:
        del request["tools"][0]["cache_control"]
    return request


def test_at_most_four_breakpoints(http: httpx.Client, client: anthropic.Anthropic) -> None:
    """§2: the confirmed text, counted across tools + system + messages; count_tokens too."""
    assert both(http, _cached_request(5)) == ("A maximum of 4 blocks with cache_control may be provided. Found 5.",) * 2
    assert ok(http, _cached_request(4))["content"]
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(**_cached_request(6))
    assert raised.value.body["error"]["message"] == "A maximum of 4 blocks with cache_control may be provided. Found 6."


def test_the_automatic_marker_takes_a_slot(http: httpx.Client) -> None:
    """§1: the top-level cache_control uses one of the 4; with none left, 400 (Dateline's wording)."""
    assert error(post(http, _cached_request(4, cache_control=EPHEMERAL))) == (
        "cache_control: the top-level cache_control takes one of the 4 cache_control slots, "
        "and 4 blocks already have cache_control. Remove one of them."
    )
    assert ok(http, _cached_request(3, cache_control=EPHEMERAL))["content"]
    # The last block already marked with the same TTL: nothing changes, no slot taken.
    request = _cached_request(3, cache_control=EPHEMERAL)
    request["messages"][0]["content"][-1]["cache_control"] = EPHEMERAL
    assert ok(http, request)["content"]


def test_the_automatic_marker_and_a_different_ttl_on_the_last_block(http: httpx.Client) -> None:
    """§1: an explicit marker with another TTL on the last cacheable block: 400 (Dateline's wording)."""
    request = body(user([{"type": "text", "text": "Context."}, marked(PROMPT, EPHEMERAL)]), cache_control=HOUR)
    assert both(http, request)[0] == (
        "cache_control: the top-level cache_control (ttl='1h') goes on the last cacheable block, "
        "which has a cache_control of its own with ttl='5m'. Use the same ttl, or remove one of them."
    )
    assert ok(http, {**request, "cache_control": {"type": "ephemeral", "ttl": "5m"}})["content"]


def test_longer_ttls_come_first(http: httpx.Client) -> None:
    """§5: the real text, with the path of the 1h marker that follows a 5m one."""
    late = body(user([marked("Context.", EPHEMERAL), marked(PROMPT, HOUR)]))
    rule = (
        "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. "
        "Note that blocks are processed in the following order: `tools`, `system`, `messages`."
    )
    assert both(http, late) == (f"messages.0.content.1.cache_control.ttl: {rule}",) * 2
    tools_first = body(user([marked(PROMPT, HOUR)]), tools=[{**TOOLS[0], "cache_control": EPHEMERAL}])
    assert error(post(http, tools_first)) == f"messages.0.content.0.cache_control.ttl: {rule}"
    system_late = body(system=[marked("Terse.", EPHEMERAL), marked("Sea.", HOUR)])
    assert error(post(http, system_late)) == f"system.1.cache_control.ttl: {rule}"
    assert error(post(http, body(system=[marked("Terse.")], cache_control=HOUR))) == f"cache_control.ttl: {rule}"
    assert ok(
        http,
        body(user([marked("Context.", HOUR), marked(PROMPT, EPHEMERAL)]), tools=[{**TOOLS[0], "cache_control": HOUR}]),
    )


@pytest.mark.parametrize("text", ["", "  \n"])
def test_no_cache_control_on_empty_text(http: httpx.Client, text: str) -> None:
    """§1 "empty text blocks": the real text, before the empty-text rule of its own."""
    in_messages = body(user([{"type": "text", "text": "Hi"}, marked(text)]))
    expected = "messages.0.content.1.text: cache_control cannot be set for empty text blocks"
    assert both(http, in_messages) == (expected, expected)
    in_system = body(system=[marked(text), {"type": "text", "text": "Be brief."}])
    assert error(post(http, in_system)) == "system.0: cache_control cannot be set for empty text blocks"


def test_no_cache_control_on_thinking_blocks(http: httpx.Client, client: anthropic.Anthropic) -> None:
    """§1: thinking blocks have no such field: the schema's own refusal."""
    first = client.messages.create(
        model=MODEL, max_tokens=2048, messages=[user(PROMPT)], thinking={"type": "enabled", "budget_tokens": 1024}
    )
    thinking = first.content[0].model_dump(exclude_none=True)
    request = body(user(PROMPT), assistant([{**thinking, "cache_control": EPHEMERAL}]), user("More"), max_tokens=2048)
    assert error(post(http, request)) == "messages.1.content.0.thinking.cache_control: Extra inputs are not permitted"


def test_no_cache_control_on_a_deferred_tool(http: httpx.Client) -> None:
    """§1: a tool with `defer_loading: true` and cache_control is a 400 (Dateline's wording)."""
    deferred = {**TOOLS[1], "defer_loading": True, "cache_control": EPHEMERAL}
    expected = "tools.1: cache_control cannot be set for tools with `defer_loading: true`"
    assert both(http, body(tools=[TOOLS[0], deferred])) == (expected, expected)
