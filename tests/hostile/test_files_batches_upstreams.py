"""Hostile files, batches and upstreams: uploads whose framing or names are
out of bounds, downloads of rows stored before names were checked, batch
results read while the batch is deleted, concurrent deletes, and upstreams
that answer with what no Claude API server would send.

Every refusal is the API's envelope (or ``event: error`` once a stream has
begun), and the connection it came on serves the client's next request.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from conftest import sse_events
from fake_openai import DONE as FAKE_DONE
from fake_openai import FakeOpenAI, chunk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from dateline import Settings
from dateline.backends.anthropic import AnthropicBackend
from dateline.backends.openai import OpenAIBackend
from dateline.store import LocalBlobs, Store
from dateline.testing import AppThread, DatelineServer
from dateline.thinking import Signer
from dateline.upstream import Clients, Pool, Target, Upstream
from dateline.upstream import _answer as answers

HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
FILES = {**HEADERS, "anthropic-beta": "files-api-2025-04-14"}
MODEL = "claude-sonnet-4-5"
#: A header value as RFC 9110 has it: visible ASCII, spaces and tabs inside.
FIELD_VALUE = re.compile(rb"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type, body
    assert body["request_id"] and response.headers["request-id"], response.headers
    return body


def connection(response: httpx.Response) -> Any:
    """The client end of the connection a response came on: the same one means it was kept alive."""
    address = response.extensions["network_stream"].get_extra_info("client_addr")
    assert address is not None
    return address


def assert_headers_valid(response: httpx.Response) -> None:
    for name, value in response.headers.raw:
        assert FIELD_VALUE.fullmatch(value), (name, value)


# -- files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files_server() -> Iterator[DatelineServer]:
    with DatelineServer(Settings(files_downloadable=True)) as running:
        yield running


def multipart(part_headers: bytes, content: bytes = b"abc", boundary: bytes = b"xyz") -> bytes:
    return b"--" + boundary + b"\r\n" + part_headers + b"\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n"


def upload(client: httpx.Client, part_headers: bytes, *, boundary: bytes = b"xyz") -> httpx.Response:
    headers = {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}
    return client.post("/v1/files", content=multipart(part_headers, boundary=boundary), headers=headers)


def test_a_boundary_longer_than_the_parser_takes_is_a_400(files_server: DatelineServer):
    with httpx.Client(base_url=files_server.base_url, headers=FILES, timeout=30) as client:
        long = b"b" * 300
        refused = upload(client, b'Content-Disposition: form-data; name="file"; filename="a.txt"', boundary=long)
        body = assert_envelope(refused, 400, "invalid_request_error")
        assert "boundary" in body["error"]["message"]
        kept = client.get("/v1/files")
        assert kept.status_code == 200 and connection(kept) == connection(refused)


@pytest.mark.parametrize(
    "filename",
    [b"a\x7fb.txt", b"a\xc2\x85b.txt", b"a\xc2\x9bb.txt"],  # DEL, and C1 controls (NEL, CSI) as UTF-8
    ids=["DEL", "NEL", "CSI"],
)
def test_a_filename_with_a_control_character_is_refused(files_server: DatelineServer, filename: bytes):
    with httpx.Client(base_url=files_server.base_url, headers=FILES, timeout=30) as client:
        disposition = b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"'
        refused = upload(client, disposition + b"\r\nContent-Type: text/plain")
        assert "Invalid filename" in assert_envelope(refused, 400, "invalid_request_error")["error"]["message"]


@pytest.mark.parametrize(
    "part_type",
    [b"text/plain\n", b"text/plain\nx-injected: 1", b"t\xc3\xa9xt/plain", b"text/plain\x7f", b"text /plain"],
    ids=["trailing LF", "LF inside", "non-ASCII", "DEL", "space"],
)
def test_a_part_type_that_is_not_a_media_type_never_reaches_a_header(files_server: DatelineServer, part_type: bytes):
    with httpx.Client(base_url=files_server.base_url, headers=FILES, timeout=30) as client:
        disposition = b'Content-Disposition: form-data; name="file"; filename="a.txt"'
        stored = upload(client, disposition + b"\r\nContent-Type: " + part_type)
        assert stored.status_code == 200, stored.text
        # Not a media type: the name decides, as for a part sent without one.
        assert stored.json()["mime_type"] == "text/plain"
        content = client.get(f"/v1/files/{stored.json()['id']}/content")
        assert content.status_code == 200 and content.content == b"abc"
        assert_headers_valid(content)
        assert connection(client.get("/v1/files")) == connection(content)


def test_rows_stored_before_the_checks_download_with_valid_headers(files_server: DatelineServer):
    # As an older Dateline stored them: names and types that no header may carry.
    settings = files_server.settings
    rows = [
        ("a\x7fb.txt", "text/plain\n"),
        ('say "hi"\\\r\n.txt', "text/plain\r\nx-injected: 1"),
        ("caf\u00e9\u2028.txt", "t\u00e9xt/pl\u20acin"),
    ]

    async def store_rows() -> list[str]:
        store = Store(settings.resolved_database_url())
        await store.open()
        blobs = LocalBlobs(settings.resolved_data_dir() / "files")
        ids = []
        for i, (filename, mime_type) in enumerate(rows):
            file_id = f"file_011CHostileStoredRow{i:04d}"
            await blobs.put(file_id, _chunks(b"old bytes"))
            await store.add_file({
                "id": file_id, "filename": filename, "mime_type": mime_type, "size_bytes": 9,
                "created_at": time.time(), "downloadable": True, "scope_id": None,
            })
            ids.append(file_id)
        await store.close()
        return ids

    ids = asyncio.run(store_rows())
    with httpx.Client(base_url=files_server.base_url, headers=FILES, timeout=30) as client:
        for file_id in ids:
            content = client.get(f"/v1/files/{file_id}/content")
            assert content.status_code == 200 and content.content == b"old bytes"
            assert_headers_valid(content)
            assert content.headers["content-type"] == "application/octet-stream"
            assert content.headers["content-disposition"].startswith('attachment; filename="')
            assert "x-injected" not in content.headers
        assert connection(client.get("/v1/files")) == connection(content)


async def _chunks(data: bytes):
    yield data


# -- batches ---------------------------------------------------------------------------------


def batch_server(database_url: str, tmp_path) -> DatelineServer:
    return DatelineServer(database_url=database_url, data_dir=tmp_path / "data", batch_concurrency=64)


def ended_batch(client: httpx.Client, n: int, text: str = "Tide pools") -> str:
    params = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
    requests = [{"custom_id": f"r{i}", "params": params} for i in range(n)]
    created = client.post("/v1/messages/batches", json={"requests": requests})
    assert created.status_code == 200, created.text
    batch_id = created.json()["id"]
    deadline = time.monotonic() + 120
    while client.get(f"/v1/messages/batches/{batch_id}").json()["processing_status"] != "ended":
        assert time.monotonic() < deadline, "the batch did not end"
        time.sleep(0.1)
    return batch_id


def test_results_read_while_the_batch_is_deleted_are_whole_or_fail(database_url: str, tmp_path):
    n = 3000
    with batch_server(database_url, tmp_path) as server:
        # Long results, so the download is still reading the database when the delete lands.
        server.script([{"reply": {"text": "Kelp and anemones. " * 400}}])
        with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=60) as client:
            batch_id = ended_batch(client, n)
            sdk = anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-test", max_retries=0, timeout=60)
            results = iter(sdk.messages.batches.results(batch_id))
            first = next(results)
            assert first.custom_id == "r0" and first.result.type == "succeeded"
            deleted = client.delete(f"/v1/messages/batches/{batch_id}")
            assert deleted.status_code == 200, deleted.text
            try:
                read = 1 + sum(1 for _ in results)
            except anthropic.APIConnectionError:
                return  # failed where the client sees it: the body ended before its last chunk
            assert read == n, f"a 200 with {read} of {n} results"


def test_results_of_a_batch_deleted_before_the_first_line_are_a_404(database_url: str, tmp_path):
    with batch_server(database_url, tmp_path) as server, httpx.Client(
        base_url=server.base_url, headers=HEADERS, timeout=60
    ) as client:
        batch_id = ended_batch(client, 3)
        assert client.delete(f"/v1/messages/batches/{batch_id}").status_code == 200
        gone = client.get(f"/v1/messages/batches/{batch_id}/results")
        assert_envelope(gone, 404, "not_found_error")
        assert connection(client.get("/v1/models")) == connection(gone)


def test_exactly_one_of_concurrent_deletes_wins(database_url: str, tmp_path):
    racers = 8
    with batch_server(database_url, tmp_path) as server, httpx.Client(
        base_url=server.base_url, headers=HEADERS, timeout=60
    ) as client:
        for _ in range(3):
            batch_id = ended_batch(client, 2)
            start = threading.Barrier(racers)
            statuses: list[int] = []

            def delete(batch_id: str = batch_id, start: threading.Barrier = start) -> None:
                with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=60) as own:
                    own.get("/v1/models")  # connected before the race
                    start.wait()
                    response = own.delete(f"/v1/messages/batches/{batch_id}")
                    if response.status_code != 200:
                        assert_envelope(response, 404, "not_found_error")
                    statuses.append(response.status_code)

            threads = [threading.Thread(target=delete) for _ in range(racers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(statuses) == [200] + [404] * (racers - 1)


def test_the_store_deletes_a_batch_once(database_url: str):
    async def scenario() -> list[bool]:
        stores = [Store(database_url) for _ in range(4)]  # as four processes would
        for store in stores:
            await store.open()
        now = time.time()
        batch = {
            "id": "msgbatch_once", "version": "2023-06-01", "processing_status": "in_progress", "total": 1,
            "created_at": now, "expires_at": now + 3600,
        }
        await stores[0].create_batch(batch, [("r0", "{}")])
        await stores[0].cancel_batch("msgbatch_once", now)  # ends it: nothing had started
        try:
            return list(await asyncio.gather(*(s.delete_batch("msgbatch_once") for s in stores)))
        finally:
            for store in stores:
                await store.close()

    assert sorted(asyncio.run(scenario())) == [False, False, False, True]


# -- a hostile upstream for the anthropic backend ------------------------------------------------------


def _message(text: str = "Hi") -> dict[str, Any]:
    return {
        "id": "msg_upstream", "type": "message", "role": "assistant", "model": "up-model",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


def _events(*events: tuple[str, Any]) -> bytes:
    def data(value: Any) -> bytes:
        return value if isinstance(value, bytes) else orjson.dumps(value)

    return b"".join(b"event: " + name.encode() + b"\ndata: " + data(value) + b"\n\n" for name, value in events)


def ev(name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """One event, as the API frames it: its name, and data with the same ``type``."""
    return name, {"type": name, **fields}


def _start(message: Any = None) -> tuple[str, Any]:
    return ev("message_start", message=_message("") | {"content": []} if message is None else message)


def _delta(**fields: Any) -> tuple[str, Any]:
    return ev("content_block_delta", **fields)


TEXT = {"type": "text_delta", "text": "Hi"}
STOPPED = {"stop_reason": "end_turn", "stop_sequence": None}
BLOCK = ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
DELTA = _delta(index=0, delta=TEXT)
STOP = ev("content_block_stop", index=0)
END = ev("message_delta", delta=STOPPED, usage={"output_tokens": 1})
DONE = ev("message_stop")
WHOLE = (BLOCK, DELTA, STOP, END, DONE)
UTF8_ID = "req_\u20ac\u4e2d".encode()  # not Latin-1: an HTTP/1.1 header can only carry its bytes

#: What the hostile upstream answers, by the text of the request's last message.
STREAMS: dict[str, bytes] = {
    "bad start: message is a string": _events(_start("oops"), *WHOLE),
    "bad start: no message": _events(ev("message_start"), *WHOLE),
    "bad start: data is a list": _events(("message_start", [1, 2]), *WHOLE),
    "bad start: data not JSON": _events(("message_start", b"{not json"), *WHOLE),
    "bad start: content not a list": _events(_start(_message() | {"content": "x"}), *WHOLE),
    "bad delta: no text": _events(_start(), BLOCK, _delta(index=0, delta={"type": "text_delta"}), STOP, END, DONE),
    "bad delta: text a number": _events(_start(), BLOCK, _delta(index=0, delta=TEXT | {"text": 7}), STOP, END, DONE),
    "bad delta: delta a string": _events(_start(), BLOCK, _delta(index=0, delta="x"), STOP, END, DONE),
    "bad delta: no index": _events(_start(), BLOCK, _delta(delta={"type": "text_delta", "text": "x"}), STOP, END, DONE),
    "bad delta: index a string": _events(_start(), BLOCK, _delta(index="0", delta=TEXT), STOP, END, DONE),
    "bad delta: message_delta without stop_reason": _events(_start(), *WHOLE[:3], ev(END[0], delta={}, usage={}), DONE),
    "bad delta: message_delta usage a list": _events(_start(), *WHOLE[:3], ev(END[0], delta=STOPPED, usage=[]), DONE),
    "bad delta: block start without a block": _events(_start(), ev("content_block_start", index=0), *WHOLE[1:]),
    "bad delta: error event not an object": _events(_start(), BLOCK, ("error", b"[1]")),
}
MESSAGES: dict[str, Any] = {
    "bad message: content a string": _message() | {"content": "x"},
    "bad message: a list": [1, 2, 3],
    "bad message: block without type": _message() | {"content": [{"text": "x"}]},
    "bad message: usage missing": {k: v for k, v in _message().items() if k != "usage"},
}
COUNTS: dict[str, Any] = {
    "count: missing": {},
    "count: a string": {"input_tokens": "12"},
    "count: a float": {"input_tokens": 1.5},
    "count: a boolean": {"input_tokens": True},
    "count: negative": {"input_tokens": -3},
    "count: a list": [12],
}


async def _endless(ask: str) -> AsyncIterator[bytes]:
    """An answer that never ends: one event that never closes, or a JSON body that never does."""
    yield _events(_start(), BLOCK) + b"event: content_block_delta\ndata: " if "stream" in ask else b'{"content": "'
    piece = b"x" * 65536
    while True:
        yield piece
        await asyncio.sleep(0)  # the upstream's own loop goes on serving (and sees its client leave)


class HostileAnthropic:
    """An upstream that speaks the Claude API wrongly on purpose, as the request's last message asks."""

    def __init__(self) -> None:
        app = Starlette(routes=[
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self._count, methods=["POST"]),
        ])
        self._served = AppThread(app, "hostile-anthropic")
        self.base_url = f"http://127.0.0.1:{self._served.port}"

    def __enter__(self) -> HostileAnthropic:
        self._served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.stop()

    @staticmethod
    async def _ask(request: Request) -> str:
        body = orjson.loads(await request.body())
        content = body["messages"][-1]["content"]
        return content if isinstance(content, str) else content[0]["text"]

    async def _messages(self, request: Request) -> Response:
        ask = await self._ask(request)
        if ask.startswith("endless"):
            return StreamingResponse(_endless(ask), media_type="text/event-stream" if "stream" in ask else None)
        if ask in STREAMS:
            return Response(STREAMS[ask], media_type="text/event-stream")
        if ask in MESSAGES:
            return Response(orjson.dumps(MESSAGES[ask]), media_type="application/json")
        if ask.startswith("header"):
            # A request-id and a rate-limit header in UTF-8, on an answer or an error.
            error = ask.endswith("error")
            body = (
                orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}})
                if error else (_events(_start(), *WHOLE) if "stream" in ask else orjson.dumps(_message()))
            )
            response = Response(
                body, status_code=429 if error else 200,
                media_type="text/event-stream" if "stream" in ask else "application/json",
            )
            response.raw_headers += [
                (b"request-id", UTF8_ID),
                (b"anthropic-ratelimit-requests-remaining", "\u20ac".encode()),
                (b"retry-after", b"1"),
            ]
            return response
        return Response(orjson.dumps(_message("Fine")), media_type="application/json")

    async def _count(self, request: Request) -> Response:
        return Response(orjson.dumps(COUNTS[await self._ask(request)]), media_type="application/json")


@pytest.fixture(scope="module")
def front() -> Iterator[DatelineServer]:
    with HostileAnthropic() as hostile:
        target = Target(Upstream(name="hostile", kind="anthropic", base_url=hostile.base_url), "up-model")
        with DatelineServer(backend=AnthropicBackend(Pool([target]), Clients())) as server:
            yield server


@pytest.fixture
def kept(front: DatelineServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=front.base_url, headers=HEADERS, timeout=30) as client:
        yield client


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}], **extra}


def assert_still_serving(client: httpx.Client, previous: httpx.Response) -> None:
    """The same connection answers the client's next request."""
    after = client.post("/v1/messages", json=ask("fine"))
    assert after.status_code == 200, after.text
    assert after.json()["content"][0]["text"] == "Fine"
    assert connection(after) == connection(previous)


@pytest.mark.parametrize("kind", ["header", "header stream"])
def test_an_upstream_header_that_is_not_latin_1_is_not_relayed(kept: httpx.Client, kind: str):
    stream = "stream" in kind
    answer = kept.post("/v1/messages", json=ask(kind, stream=stream))
    assert answer.status_code == 200, answer.text
    assert_headers_valid(answer)
    assert answer.headers["retry-after"] == "1"  # what is valid is still relayed
    assert "anthropic-ratelimit-requests-remaining" not in answer.headers
    assert answer.headers["request-id"].startswith("req_") and answer.headers["request-id"].isascii()
    if stream:
        assert answer.text.rstrip().endswith('data: {"type":"message_stop"}')
    assert_still_serving(kept, answer)


def test_an_upstream_error_with_a_header_that_is_not_latin_1(kept: httpx.Client):
    refused = kept.post("/v1/messages", json=ask("header error"))
    body = assert_envelope(refused, 429, "rate_limit_error")
    assert body["error"]["message"] == "Slow down" and body["request_id"].isascii()
    assert refused.headers["retry-after"] == "1"
    assert_headers_valid(refused)
    assert_still_serving(kept, refused)


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_a_malformed_upstream_event_is_an_api_error(kept: httpx.Client, kind: str):
    answer = kept.post("/v1/messages", json=ask(kind, stream=True))
    if kind.startswith("bad start"):
        # Before the first event the answer is still an ordinary HTTP error.
        assert "upstream" in assert_envelope(answer, 500, "api_error")["error"]["message"]
    else:
        assert answer.status_code == 200, answer.text
        last = answer.text.rstrip().rsplit("\n\n", 1)[-1]
        name, data = last.split("\n")
        assert name == "event: error", answer.text
        assert orjson.loads(data.removeprefix("data: "))["error"]["type"] == "api_error"
    assert_still_serving(kept, answer)


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_a_malformed_upstream_stream_is_an_api_error_through_complete(kept: httpx.Client, kind: str):
    # /v1/complete reads the deltas itself: a malformed one is still the upstream's fault, said so.
    body = {"model": "claude-2.1", "prompt": f"\n\nHuman: {kind}\n\nAssistant:", "max_tokens_to_sample": 16}
    answer = kept.post("/v1/complete", json=body)
    assert "upstream" in assert_envelope(answer, 500, "api_error")["error"]["message"]
    assert_still_serving(kept, answer)


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_a_malformed_upstream_message_is_an_api_error(kept: httpx.Client, kind: str):
    answer = kept.post("/v1/messages", json=ask(kind))
    assert "upstream" in assert_envelope(answer, 500, "api_error")["error"]["message"]
    assert_still_serving(kept, answer)


@pytest.mark.parametrize("kind", sorted(COUNTS))
def test_a_count_without_an_integer_is_an_api_error(kept: httpx.Client, kind: str):
    body = {"model": MODEL, "messages": [{"role": "user", "content": kind}]}
    answer = kept.post("/v1/messages/count_tokens", json=body)
    assert "upstream" in assert_envelope(answer, 500, "api_error")["error"]["message"]
    assert_still_serving(kept, answer)


@pytest.mark.parametrize("kind", ["endless", "endless stream"])
def test_an_upstream_that_never_stops_is_cut_off(
    front: DatelineServer, kept: httpx.Client, kind: str, monkeypatch: pytest.MonkeyPatch
):
    # The real bounds (64 MiB an answer, 16 MiB an event) made small, to be quick on a busy machine.
    monkeypatch.setattr(answers, "MAX_ANSWER", 2 * 1024 * 1024)
    monkeypatch.setattr(answers, "MAX_EVENT", 1024 * 1024)
    stream = "stream" in kind
    answer = kept.post("/v1/messages", json=ask(kind, stream=stream))
    if stream:
        assert answer.status_code == 200 and answer.text.rstrip().rsplit("\n\n", 1)[-1].startswith("event: error")
        assert "larger than 1 MiB" in answer.text
    else:
        assert "larger than 2 MiB" in assert_envelope(answer, 500, "api_error")["error"]["message"]
    assert_still_serving(kept, answer)


# -- the same hostility toward the openai backend ---------------------------------------------


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as running:
        yield running


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_server.clear()
    yield fake_server
    fake_server.clear()


@pytest.fixture(scope="module")
def openai_front(fake_server: FakeOpenAI) -> Iterator[DatelineServer]:
    upstream = Upstream(name="fake", kind="openai", base_url=fake_server.base_url + "/v1")
    backend = OpenAIBackend(Pool([Target(upstream, "fake-model")]), Clients(), Signer("hostile-suite-signing-key"))
    with DatelineServer(backend=backend) as server:
        yield server


@pytest.fixture
def openai_kept(openai_front: DatelineServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=openai_front.base_url, headers=HEADERS, timeout=30) as client:
        yield client


def still_serving_openai(client: httpx.Client, fake: FakeOpenAI, previous: httpx.Response) -> None:
    fake.clear()
    after = client.post("/v1/messages", json=ask("fine"))
    assert after.status_code == 200, after.text
    assert connection(after) == connection(previous)


def test_an_openai_upstreams_retry_after_in_utf_8_is_not_relayed(openai_kept: httpx.Client, fake: FakeOpenAI):
    # Starlette frames headers as Latin-1: these characters go out as the UTF-8 bytes of "€1".
    fake.fail(429, {"error": {"message": "Slow down"}}, headers={"retry-after": "\u20ac1".encode().decode("latin-1")})
    refused = openai_kept.post("/v1/messages", json=ask("hi"))
    assert_envelope(refused, 429, "rate_limit_error")
    assert "retry-after" not in refused.headers
    assert_headers_valid(refused)
    still_serving_openai(openai_kept, fake, refused)


def _completion(message: Any, **fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {"id": "chatcmpl-x", "object": "chat.completion", "choices": [choice], **fields}


#: Whole answers no OpenAI-compatible server should send.
COMPLETIONS: dict[str, Any] = {
    "message a string": _completion("x"),
    "content parts with a number": _completion({"role": "assistant", "content": [{"type": "text", "text": 5}]}),
    "tool_calls a number": _completion({"role": "assistant", "content": "", "tool_calls": 5}),
    "function a string": _completion({"role": "assistant", "tool_calls": [{"id": "c", "function": "f"}]}),
    "function name a number": _completion({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": 3}}]}),
    "usage booleans": _completion({"role": "assistant", "content": "x"}, usage={"prompt_tokens": True}),
    "usage negative": _completion({"role": "assistant", "content": "x"}, usage={"completion_tokens": -4}),
}


@pytest.mark.parametrize("kind", sorted(COMPLETIONS))
def test_a_malformed_openai_completion_is_an_api_error_or_read_safely(
    openai_kept: httpx.Client, fake: FakeOpenAI, kind: str
):
    fake.fail(200, COMPLETIONS[kind])
    answer = openai_kept.post("/v1/messages", json=ask("hi"))
    if answer.status_code == 200:
        usage = answer.json()["usage"]
        assert all(type(usage[k]) is int and usage[k] >= 0 for k in ("input_tokens", "output_tokens")), usage
        assert all(isinstance(block.get("text", block.get("name", "")), str) for block in answer.json()["content"])
    else:
        assert "upstream" in assert_envelope(answer, 500, "api_error")["error"]["message"]
    still_serving_openai(openai_kept, fake, answer)


#: Chunks no OpenAI-compatible server should send, after a good first one.
CHUNKS: dict[str, dict[str, Any]] = {
    "tool_calls a number": {"choices": [{"index": 0, "delta": {"tool_calls": 5}}]},
    "content parts with a number": {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": 5}]}}]},
    "tool call index a list": {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": [0], "id": "c"}]}}]},
    "function name a number": {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": 3}}]}}]},
    "usage a boolean": {"choices": [], "usage": {"prompt_tokens": True, "completion_tokens": -1}},
}


@pytest.mark.parametrize("kind", sorted(CHUNKS))
def test_a_malformed_openai_chunk_is_an_error_event_or_read_safely(
    openai_kept: httpx.Client, fake: FakeOpenAI, kind: str
):
    fake.chunks([chunk("", role="assistant"), CHUNKS[kind], chunk(finish_reason="stop"), FAKE_DONE])
    answer = openai_kept.post("/v1/messages", json=ask("hi", stream=True))
    assert answer.status_code == 200, answer.text
    events = [(name, orjson.loads(data)) for name, data in sse_events(answer.text)]
    if events[-1][0] == "error":
        assert events[-1][1]["error"]["type"] == "api_error" and "upstream" in events[-1][1]["error"]["message"]
    else:
        assert events[-1][0] == "message_stop"
        blocks = [data["content_block"] for name, data in events if name == "content_block_start"]
        assert all(isinstance(block.get("name", ""), str) for block in blocks), blocks
        usage = next(data["usage"] for name, data in events if name == "message_delta")
        counts = [v for k, v in usage.items() if k.endswith("_tokens")]
        assert len(counts) == 4 and all(type(v) is int and v >= 0 for v in counts), usage
    still_serving_openai(openai_kept, fake, answer)
