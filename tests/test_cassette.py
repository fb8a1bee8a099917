"""Record and replay: a Dateline front records its upstream exchanges with a
live upstream Dateline; with the upstream gone, a new front replays them, and
clients must not see the difference."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import sse_events

from dateline.backends.anthropic import AnthropicBackend
from dateline.testing import DatelineServer
from dateline.upstream import (
    Clients,
    NoRecordedExchange,
    Pool,
    RecordingTransport,
    ReplayTransport,
    Target,
    TransportFactory,
    Upstream,
)

MODEL = "claude-sonnet-4-5"
CLIENT_KEY = "sk-ant-client-secret-0123"
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 48, "messages": [{"role": "user", "content": text}], **extra}


def front_for(base_url: str, transport: TransportFactory) -> DatelineServer:
    target = Target(Upstream(name="up", kind="anthropic", base_url=base_url), MODEL)
    return DatelineServer(backend=AnthropicBackend(Pool([target]), Clients(transport)))


def post(server: DatelineServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a client sees of one answer (the body parsed: JSON, or SSE events)."""
    response = httpx.post(server.base_url + path, json=body, headers=HEADERS, timeout=30)
    seen: dict[str, Any] = {"status": response.status_code, "request-id": response.headers["request-id"]}
    seen["retry-after"] = response.headers.get("retry-after")
    if response.headers["content-type"].startswith("text/event-stream"):
        seen["events"] = [(name, json.loads(data)) for name, data in sse_events(response.text)]
    else:
        seen["json"] = response.json()
    return seen


#: The client's exchanges, in order; the upstream is scripted before some of them.
EXCHANGES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    ("message", "/v1/messages", ask("Tell me about tide pools"), None),
    ("again", "/v1/messages", ask("Tell me about tide pools"), None),
    ("stream", "/v1/messages", ask("Tell me about kelp", stream=True), None),
    ("count", "/v1/messages/count_tokens", {"model": MODEL, "messages": ask("Count me")["messages"]}, None),
    ("limited", "/v1/messages", ask("Too fast"), {"error": "rate_limit_error", "retry_after": 3}),
    ("broken", "/v1/messages", ask("Break off", stream=True), {"error": None, "disconnect_after_events": 3}),
]


def run(server: DatelineServer, upstream: DatelineServer | None = None) -> dict[str, dict[str, Any]]:
    seen = {}
    for name, path, body, fault in EXCHANGES:
        if fault is not None and upstream is not None:
            upstream.fail(**fault)
        seen[name] = post(server, path, body)
    return seen


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]], str]:
    """The cassette, what clients saw while it was recorded, and the (now closed) upstream's URL."""
    path = tmp_path_factory.mktemp("cassette") / "upstream.jsonl"
    with DatelineServer() as upstream:
        with front_for(upstream.base_url, lambda: RecordingTransport(path)) as front:
            seen = run(front, upstream)
    return path, seen, upstream.base_url


@pytest.fixture
def replaying(recorded) -> Iterator[DatelineServer]:
    path, _, gone = recorded
    with front_for(gone, lambda: ReplayTransport(path)) as front:
        yield front


def visible(seen: dict[str, Any]) -> dict[str, Any]:
    """``seen`` less the front's own request id, which an error body quotes (a new one each time)."""
    body = seen.get("json")
    if isinstance(body, dict) and body.get("type") == "error":
        return {**seen, "json": {**body, "request_id": None}}
    return seen


def test_replay_shows_clients_what_recording_did(recorded, replaying):
    _, seen, _ = recorded
    replayed = run(replaying)

    for name in ("message", "again", "stream", "count", "limited"):
        assert visible(replayed[name]) == visible(seen[name]), name
    assert (replayed["limited"]["status"], replayed["limited"]["retry-after"]) == (429, "3")
    assert seen["stream"]["events"][0][1]["message"]["id"].startswith("msg_")
    assert seen["message"]["json"]["id"] != seen["again"]["json"]["id"]  # replayed in the order recorded


def test_a_cut_short_stream_is_replayed_cut_short(recorded, replaying):
    _, seen, _ = recorded
    replayed = post(replaying, "/v1/messages", EXCHANGES[-1][2])["events"]
    assert replayed[:3] == seen["broken"]["events"][:3]
    assert [name for name, _ in replayed] == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert replayed[-1][1]["error"]["type"] == seen["broken"]["events"][-1][1]["error"]["type"] == "api_error"


def test_the_last_of_identical_exchanges_repeats(recorded, replaying):
    _, seen, _ = recorded
    ids = [post(replaying, "/v1/messages", ask("Tell me about tide pools"))["json"]["id"] for _ in range(3)]
    assert ids == [seen["message"]["json"]["id"], seen["again"]["json"]["id"], seen["again"]["json"]["id"]]


def test_an_unrecorded_request_is_refused_plainly(recorded, replaying):
    path, _, _ = recorded
    seen = post(replaying, "/v1/messages", ask("Never asked"))
    assert seen["status"] == 400
    assert seen["json"]["error"] == {
        "type": "invalid_request_error",
        "message": f'No recorded upstream exchange matches this request (POST /v1/messages, model "{MODEL}") '
        f"in cassette {path}",
    }


def test_the_cassette_is_readable_and_holds_no_credentials(recorded):
    path, _, _ = recorded
    text = path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == len(EXCHANGES)
    assert CLIENT_KEY not in text
    assert not {"x-api-key", "authorization"} & set(lines[0]["request"]["headers"])
    assert lines[0]["request"]["json"]["messages"] == ask("Tell me about tide pools")["messages"]
    assert lines[0]["response"]["json"]["type"] == "message"
    assert lines[2]["response"]["chunks"][0].startswith("event: message_start\n")
    assert "cut_short" in lines[-1]["response"] and "cut_short" not in lines[2]["response"]


def test_a_half_written_last_line_is_ignored_but_not_a_broken_one(recorded, tmp_path):
    path, _, _ = recorded
    lines = path.read_text().splitlines(keepends=True)
    killed, edited = tmp_path / "killed.jsonl", tmp_path / "edited.jsonl"
    killed.write_text("".join(lines) + '{"request": {"method": "POST", "pa')
    edited.write_text("".join([lines[0], '{"request": \n', *lines[1:]]))
    ReplayTransport(killed)
    with pytest.raises(ValueError, match=r"edited.jsonl:2: not a JSON line"):
        ReplayTransport(edited)


# -- the transports on their own --------------------------------------------------


class _Gated(httpx.AsyncByteStream):
    """Two chunks; the second only once the test lets it go."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"event: ping\ndata: {}\n\n"
        await self.gate.wait()
        yield b"event: message_stop\ndata: {}\n\n"


def _gated_upstream(gate: asyncio.Event) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Gated(gate))

    return answer


def test_a_recorded_stream_reaches_the_reader_before_it_ends(tmp_path):
    path = tmp_path / "c.jsonl"

    async def scenario() -> list[bytes]:
        gate = asyncio.Event()
        transport = RecordingTransport(path, inner=httpx.MockTransport(_gated_upstream(gate)))
        async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
            async with client.stream("POST", "/v1/messages", json={"a": 1}, headers={"x-api-key": "s"}) as response:
                chunks = response.aiter_raw()
                first = await asyncio.wait_for(anext(chunks), 5)  # the gate is still shut
                assert not path.exists()  # recorded when the exchange ends, not before
                gate.set()
                return [first] + [chunk async for chunk in chunks]

    chunks = asyncio.run(scenario())
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["response"]["chunks"] == [chunk.decode() for chunk in chunks]


def test_a_stream_the_reader_left_is_recorded_as_cut_short(tmp_path):
    path = tmp_path / "c.jsonl"

    async def scenario() -> None:
        transport = RecordingTransport(path, inner=httpx.MockTransport(_gated_upstream(asyncio.Event())))
        async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
            async with client.stream("POST", "/v1/messages", content=b"\xff") as response:
                await anext(response.aiter_raw())

        replay = ReplayTransport(path)
        async with httpx.AsyncClient(transport=replay, base_url="http://up") as client:
            async with client.stream("POST", "/v1/messages", content=b"\xff") as response:
                with pytest.raises(httpx.RemoteProtocolError, match="cut short"):
                    await response.aread()
            with pytest.raises(NoRecordedExchange, match=r"\(POST /v1/other\)"):
                await client.post("/v1/other")

    asyncio.run(scenario())
    recorded = json.loads(path.read_text())
    assert recorded["request"]["base64"] == "/w=="
    assert recorded["response"]["chunks"] == ["event: ping\ndata: {}\n\n"]
    assert recorded["response"]["cut_short"] == "closed by the reader before the end"


def test_an_unreachable_upstream_is_recorded_and_replayed(tmp_path):
    path = tmp_path / "c.jsonl"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def send(transport: httpx.AsyncBaseTransport) -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
            with pytest.raises(httpx.ConnectError, match="connection refused"):
                await client.post("/v1/messages", json={"model": "m"})

    asyncio.run(send(RecordingTransport(path, inner=httpx.MockTransport(refuse))))
    asyncio.run(send(ReplayTransport(path)))
    assert json.loads(path.read_text())["error"] == {"type": "ConnectError", "message": "connection refused"}


def test_openai_upstream_record_and_replay_give_identical_output(tmp_path: Path):
    """The same cassette round trip through the ``openai`` backend: a fake
    OpenAI-compatible upstream, recorded, then gone."""
    from fake_openai import FakeOpenAI

    from dateline.testing import DatelineServer

    cassette = tmp_path / "openai.jsonl"
    hello = [{"role": "user", "content": "Tell me about tide pools"}]
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": hello}

    def both(server: DatelineServer) -> tuple[dict, bytes]:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as raw:
            whole = raw.post("/v1/messages", json=body)
            streamed = raw.post("/v1/messages", json={**body, "stream": True})
        assert whole.status_code == 200 and streamed.status_code == 200, (whole.text, streamed.text)
        return whole.json(), streamed.content

    with FakeOpenAI() as fake:
        fake.reply("Tide pools are rocky.", times=None)
        with DatelineServer(openai_upstream=f"{fake.base_url}/v1", record=cassette) as front:
            recorded = both(front)
    with DatelineServer(openai_upstream=f"{fake.base_url}/v1", replay=cassette) as front:  # the fake is gone
        replayed = both(front)
    assert replayed == recorded
    assert recorded[0]["content"][0]["text"] == "Tide pools are rocky."
    assert b"event: message_stop" in recorded[1]
