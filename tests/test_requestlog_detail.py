"""What the request log keeps for the inspector beside each entry: the answer as its client got
it (JSON bytes, a stream's frames with their timing, the head events beside them when migrated),
bounded per stream and counted against the log's bytes; readers waiting for new entries; the same
in Redis, where a streamed entry is written once it ends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from conftest import ServerThread

from dateline.backends import Backend
from dateline.requestlog import FIELDS, STREAM_EVENTS, RequestLog, SharedRequestLog, Trace
from dateline.types import Event

MESSAGE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 40,
    "messages": [{"role": "user", "content": "Hi"}],
}
HEADERS = {"x-api-key": "sk-ant-detail-key-0007", "anthropic-version": "2023-06-01"}


def entry(rid: str = "req_1", *detail: Any, body: bytes = b'{"model": "m"}') -> tuple[Any, ...]:
    return (time.time(), rid, "POST", "/v1/messages", "2023-06-01", [], "k", [], body, None, 200, *detail)


def keep(trace: Trace, *frames: bytes) -> None:
    """Frames sent, as the edge keeps them."""
    for data in frames:
        trace.sent.append(data)
        trace.times.append(time.perf_counter())


def test_a_json_answer_is_kept_as_sent(served: ServerThread, admin: httpx.Client):
    sent = httpx.post(f"{served.base_url}/v1/messages", json=MESSAGE, headers=HEADERS)
    found = asyncio.run(served.state.log.find(sent.headers["request-id"]))
    assert found is not None and found["answer"] == sent.json() and found["events"] is None
    assert found["time"] <= found["answered"] <= time.time()
    # The admin API's entries are as before: the answer is the inspector's.
    [listed] = admin.get("/_dateline/requests").json()["data"]
    assert set(listed) == set(FIELDS)


def test_a_streams_frames_are_kept_with_when_each_went_out(served: ServerThread, admin: httpx.Client):
    sent = httpx.post(f"{served.base_url}/v1/messages", json={**MESSAGE, "stream": True}, headers=HEADERS)
    found = asyncio.run(served.state.log.find(sent.headers["request-id"]))
    assert found is not None and found["answer"] is None and not found["migrated"]
    events = found["events"]
    assert "".join(text for _, text, _ in events) == sent.text  # every byte, in order
    assert all(head is None for _, _, head in events)
    offsets = [at for at, _, _ in events]
    assert offsets == sorted(offsets) and 0 < offsets[0] and found["answered"] == found["time"] + offsets[-1]
    assert found["dropped"] == 0


def test_a_migrated_stream_keeps_the_head_events_beside(served: ServerThread, admin: httpx.Client):
    prompt = {
        "model": "claude-2.1",
        "max_tokens_to_sample": 10,
        "prompt": "\n\nHuman: Hi\n\nAssistant:",
        "stream": True,
    }
    sent = httpx.post(
        f"{served.base_url}/v1/complete", json=prompt, headers={**HEADERS, "anthropic-version": "2023-01-01"}
    )
    found = asyncio.run(served.state.log.find(sent.headers["request-id"]))
    assert found is not None and found["migrated"]
    assert "".join(text for _, text, _ in found["events"]) == sent.text
    heads = [head for _, _, head in found["events"]]
    assert heads[0].startswith("event: completion\n") and not sent.text.startswith("event:")
    assert heads[-1] is None and found["events"][-1][1] == "data: [DONE]\n\n"  # added at the end, by a migration


class ManyEvents(Backend):
    """A stream longer than the log keeps."""

    name = "many"

    async def messages(self, request: dict[str, Any], *, stream: bool):
        yield Event("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 1}}})
        for _ in range(STREAM_EVENTS + 50):
            yield Event("ping", {"type": "ping"})
        yield Event("message_stop", {"type": "message_stop"})

    async def count_tokens(self, request: dict[str, Any]) -> int:
        return 1


def test_a_long_stream_keeps_a_bounded_number_of_frames():
    with ServerThread(backend=ManyEvents()) as server:
        sent = httpx.post(f"{server.base_url}/v1/messages", json={**MESSAGE, "stream": True}, headers=HEADERS)
        found = asyncio.run(server.state.log.find(sent.headers["request-id"]))
    assert found is not None and len(found["events"]) == STREAM_EVENTS and found["dropped"] == 52


def test_a_streams_frames_count_against_the_log_once_it_ends():
    log = RequestLog(10, 1_000_000)
    trace = Trace(log, time.time(), migrated=False)
    log.add(*entry("req_s", trace, None))
    before = log.bytes
    keep(trace, *[b"x" * 1000] * 5)
    assert log.bytes == before  # not while it runs
    trace.end()
    assert log.bytes == before + trace.cost() > before + 5000
    for i in range(10):
        log.add(*entry(f"req_{i}"))
    assert asyncio.run(log.find("req_s")) is None
    assert log.bytes == sum(cost for cost, _ in log._entries)  # its frames went with it
    # A stream whose entry left before it ended counts for nothing.
    late = Trace(log, time.time(), migrated=False)
    log.add(*entry("req_late", late, None))
    for i in range(10):
        log.add(*entry(f"req_more_{i}"))
    keep(late, b"y" * 100)
    late.end()
    assert log.bytes == sum(cost for cost, _ in log._entries)


def test_frames_bigger_than_the_whole_log_are_dropped():
    log = RequestLog(10, 20_000)
    trace = Trace(log, time.time(), migrated=False)
    log.add(*entry("req_big", trace, None))
    keep(trace, *[b"z" * 10_000] * 3)
    trace.end()
    found = asyncio.run(log.find("req_big"))
    assert found is not None and found["events"] == [] and found["dropped"] == 3


def test_readers_wait_for_new_entries():
    async def body() -> None:
        log = RequestLog(3)
        log.add(*entry("req_a"))
        assert await log.wait(0, 5) == 1  # already past
        started = time.perf_counter()
        assert await log.wait(1, 0.05) == 1 and time.perf_counter() - started >= 0.05
        waiting = asyncio.create_task(log.wait(1, 5))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        log.add(*entry("req_b"))
        assert await asyncio.wait_for(waiting, 1) == 2
        for name in "cde":
            log.add(*entry(f"req_{name}"))
        added, newer = await log.since(1)
        assert added == 5 and [e["request_id"] for e in newer] == ["req_c", "req_d", "req_e"]  # req_b is gone
        assert (await log.since(5)) == (5, [])
        log.clear()
        assert log.added == 5  # readers keep counting from where they were

    asyncio.run(body())


def test_the_shared_log_keeps_the_answers_and_is_waited_on(redis_url: str):
    async def body() -> None:
        writer, reader = SharedRequestLog(redis_url, 10), SharedRequestLog(redis_url, 10)
        writer.add(*entry("req_json", b'{"ok": true}', 1.0))
        trace = Trace(writer, time.time(), migrated=False)
        writer.add(*entry("req_stream", trace, None))
        assert await reader.wait(0, 2) == 1
        assert await reader.find("req_stream") is None  # not until it ends
        keep(trace, b"event: ping\ndata: {}\n\n")
        waiting = asyncio.create_task(reader.wait(1, 5))
        trace.end()
        assert await asyncio.wait_for(waiting, 2) == 2
        found = await reader.find("req_stream")
        assert found is not None and found["events"][0][1] == "event: ping\ndata: {}\n\n"
        added, newer = await reader.since(0)
        assert added == 2 and [e["request_id"] for e in newer] == ["req_json", "req_stream"]
        assert newer[0]["answer"] == {"ok": True} and newer[0]["answered"] == 1.0
        assert all(set(e) == set(FIELDS) for e in await reader.read())  # the admin API's fields only
        await writer.aclose()
        await reader.aclose()

    asyncio.run(body())


@pytest.mark.parametrize("size", [0])
def test_with_the_log_off_nothing_is_kept(size: int):
    with ServerThread(request_log_size=size) as server:
        sent = httpx.post(f"{server.base_url}/v1/messages", json={**MESSAGE, "stream": True}, headers=HEADERS)
        assert sent.status_code == 200
        assert asyncio.run(server.state.log.since(0)) == (0, [])
        page = httpx.get(f"{server.base_url}/_dateline/")
        assert page.status_code == 200 and "The request log is off" in page.text
