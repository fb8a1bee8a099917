"""Hostile traffic at the HTTP edge: long streams to fast readers, clients that
leave before their answer, delays asked for in the ``dateline-fault`` header,
headers of megabytes or of thousands of fields, and a request log filled with
big bodies or read for the keys it saw.

The server under attack is ``dateline serve`` on its defaults (a real process:
its CPU time, memory and sockets are what is measured); behaviour that needs no
process is checked against ``DatelineServer``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from latency_probe import LatencyProbe
from processes import Served, clean_env

from dateline.testing import DatelineServer

MODEL = "claude-sonnet-4-5"
HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
LIMIT = 64 * 1024  #: the request head's limit in bytes, as the README states it


def message(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **fields}


def words(size: int) -> str:
    sentence = "Tide pools shimmer at dawn while crabs scuttle between the rocks. "
    return (sentence * (size // len(sentence) + 1))[:size]


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type, body
    assert body["request_id"] == response.headers["request-id"]
    return body


def cpu_seconds(pid: int) -> float:
    """User and system time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def process(tmp_path_factory) -> Iterator[Served]:
    """``dateline serve`` on its defaults."""
    served = Served(tmp_path_factory.mktemp("serve") / "output.log")
    try:
        yield served.wait_ready()
    finally:
        served.stop()


@pytest.fixture
def http(process: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=process.base_url, headers=HEADERS, timeout=60) as client:
        client.delete("/_dateline/requests")
        yield client
        client.delete("/_dateline/rules")


def load_rules(client: httpx.Client, rules: list[dict[str, Any]]) -> None:
    response = client.put("/_dateline/rules", json=rules)
    assert response.status_code == 200, response.text


# -- streams give way, and stop when their client leaves ---------------------------------------


def test_a_long_stream_to_a_fast_reader_stalls_no_one(process: Served, http: httpx.Client):
    # About 230,000 events: unless the stream gives the loop to others, they all wait for it.
    load_rules(http, [{"match": {"last_user": "long"}, "reply": {"text": words(1024 * 1024)}}])
    head, tail = b"", b""
    with LatencyProbe(process.base_url) as probe:
        # Read as fast as a socket can (an HTTP client's parsing would compete with the probe for this process).
        with raw_request(process.port, message("a long one", stream=True), {}) as sock:
            while chunk := sock.recv(1024 * 1024):
                head = head or chunk[:100]
                tail = (tail + chunk)[-200:]
                if tail.endswith(b"\r\n0\r\n\r\n"):
                    break
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert tail.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n\r\n0\r\n\r\n'), tail
    assert probe.worst <= 0.5, probe.report()


def test_a_stream_stops_soon_after_its_client_leaves(process: Served, http: httpx.Client):
    load_rules(http, [{"match": {"last_user": "leave"}, "reply": {"text": words(4 * 1024 * 1024)}}])
    with httpx.Client(base_url=process.base_url, headers=HEADERS, timeout=60) as client:
        with client.stream("POST", "/v1/messages", json=message("I will leave", stream=True)) as response:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > 64 * 1024:
                    break
    time.sleep(0.5)  # what the server may take to notice
    before = cpu_seconds(process.proc.pid)
    time.sleep(2)
    used = cpu_seconds(process.proc.pid) - before
    # The rest of the stream is seconds of work; a server that stopped does next to none.
    assert used < 0.25, f"{used:.2f} s of CPU in the 2 s after the client left"


# -- answers in the making are dropped when their client leaves -----------------------------------


def raw_request(port: int, body: dict[str, Any], headers: dict[str, str]) -> socket.socket:
    payload = orjson.dumps(body)
    head = "".join(f"{name}: {value}\r\n" for name, value in {**HEADERS, **headers}.items())
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nhost: dateline\r\ncontent-type: application/json\r\n"
        + head.encode() + b"content-length: %d\r\n\r\n" % len(payload) + payload
    )
    return sock


def test_clients_that_leave_are_no_longer_waited_on(process: Served, http: httpx.Client):
    slow = {"dateline-fault": "first_token_delay=60"}
    sockets = [raw_request(process.port, message("hi"), slow) for _ in range(100)]
    sockets += [raw_request(process.port, message("hi", stream=True), slow) for _ in range(20)]
    time.sleep(1)  # every request read and waiting on its delay
    for sock in sockets:
        sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        statuses = [entry["status"] for entry in http.get("/_dateline/requests").json()["data"]]
        if len(statuses) == 120:
            break
        time.sleep(0.1)
    # Each was dropped as its client left (499, as proxies log it), not answered a minute later.
    assert statuses == [499] * 120


def test_a_client_that_leaves_cancels_the_upstream_request():
    import asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from dateline.testing import AppThread

    seen: dict[str, float] = {}

    async def slow(request: Request) -> JSONResponse:
        seen["asked"] = time.monotonic()
        try:
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)
            seen["left"] = time.monotonic()
        finally:
            seen.setdefault("left", time.monotonic())
        return JSONResponse({})

    upstream = AppThread(Starlette(routes=[Route("/v1/chat/completions", slow, methods=["POST"])]), "slow upstream")
    upstream.start()
    try:
        with DatelineServer(openai_upstream=f"http://127.0.0.1:{upstream.port}/v1") as front:
            sock = raw_request(front.port, message("hi"), {})
            deadline = time.monotonic() + 10
            while "asked" not in seen and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "asked" in seen
            sock.close()
            deadline = time.monotonic() + 5
            while "left" not in seen and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "left" in seen, "the upstream request went on after the client left"
            assert seen["left"] - seen["asked"] < 5
            assert [e["status"] for e in front.requests()] == [499]
    finally:
        upstream.stop()


# -- the fault header: bounded delays, and an operator's switch -----------------------------------


@pytest.fixture(scope="module")
def double() -> Iterator[DatelineServer]:
    with DatelineServer() as running:
        yield running


@pytest.mark.parametrize("value", ["first_token_delay=300", "token_delay=61", "error=api_error; first_token_delay=3600"])
def test_the_fault_headers_delays_are_bounded(double: DatelineServer, value: str):
    response = httpx.post(
        f"{double.base_url}/v1/messages", json=message("hi"), headers={**HEADERS, "dateline-fault": value}, timeout=30
    )
    body = assert_envelope(response, 400, "invalid_request_error")
    assert "60" in body["error"]["message"], body


def test_a_rule_may_ask_for_longer_delays(double: DatelineServer):
    double.script([{"fault": {"first_token_delay": 120}, "match": {"last_user": "never sent"}}])
    try:
        response = httpx.post(
            f"{double.base_url}/v1/messages", json=message("hi"), headers={**HEADERS, "dateline-fault": "token_delay=60"}
        )
        assert response.status_code == 200, response.text
    finally:
        double.reset()


def test_header_faults_can_be_switched_off():
    with DatelineServer(fault_header=False) as running:
        headers = {**HEADERS, "dateline-fault": "overloaded_error"}
        response = httpx.post(f"{running.base_url}/v1/messages", json=message("hi"), headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert running.requests()[0]["rule"] is None


@pytest.mark.parametrize("how", ["flag", "env"])
def test_dateline_serve_switches_header_faults_off(tmp_path: Path, how: str):
    args, env = (["--no-fault-header"], None) if how == "flag" else ([], clean_env(DATELINE_FAULT_HEADER="false"))
    served = Served(tmp_path / "output.log", *args, env=env)
    try:
        served.wait_ready()
        headers = {**HEADERS, "dateline-fault": "overloaded_error"}
        response = httpx.post(f"{served.base_url}/v1/messages", json=message("hi"), headers=headers, timeout=30)
        assert response.status_code == 200, response.text
    finally:
        served.stop()


# -- header limits ------------------------------------------------------------------------------


def test_a_header_of_a_megabyte_is_a_431(process: Served):
    response = httpx.get(f"{process.base_url}/v1/models", headers={**HEADERS, "x-big": "a" * 1024 * 1024}, timeout=30)
    body = assert_envelope(response, 431, "invalid_request_error")
    assert len(response.content) < 1024, body


def read_answer(port: int, request: bytes) -> bytes:
    """The whole answer to ``request``, sent at once before a byte is read, up to the server's close."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def assert_431(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"\r\nrequest-id: req_" in head and b"\r\nconnection: close" in head, head
    error = orjson.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error", error


GET = b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n"


def test_twenty_thousand_headers_are_a_431(process: Served):
    assert_431(read_answer(process.port, GET + b"".join(b"x-h%d: v\r\n" % i for i in range(20_000)) + b"\r\n"))


def test_headers_within_the_limits_are_served(process: Served):
    within = [(f"x-h{i}", "v" * 500) for i in range(80)]  # 80 fields, about 40 KB
    response = httpx.get(f"{process.base_url}/v1/models", headers=[*HEADERS.items(), *within], timeout=30)
    assert response.status_code == 200, response.text


def test_a_431_is_answered_on_a_connection_still_sending(process: Served):
    # The client sends its whole head before reading: the answer must still reach it.
    assert_431(read_answer(process.port, GET + b"x-big: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n"))
    # A URL of megabytes is part of the head too.
    assert_431(read_answer(process.port, b"GET /v1/models?" + b"a" * (1024 * 1024) + b" HTTP/1.1\r\nhost: x\r\n\r\n"))


def test_megabytes_of_headers_hold_no_memory_and_stall_no_one(process: Served):
    # Unauthenticated (no key at all): such requests were kept in the request log, headers and all.
    before = rss_mb(process.proc.pid)
    with LatencyProbe(process.base_url) as probe:
        for _ in range(20):
            try:
                response = httpx.post(
                    f"{process.base_url}/v1/messages", json=message("hi"), timeout=30,
                    headers={"anthropic-version": "2023-06-01", "x-big": "a" * (5 * 1024 * 1024)},
                )
                assert response.status_code == 431
            except httpx.TransportError:
                pass  # a server may also cut off a client that will not stop sending
    grown = rss_mb(process.proc.pid) - before
    assert grown < 30, f"RSS grew {grown:.0f} MB"
    assert probe.worst <= 0.5, probe.report()


def test_the_test_double_refuses_over_large_headers_too(double: DatelineServer):
    response = httpx.get(f"{double.base_url}/v1/models", headers={**HEADERS, "x-big": "a" * (LIMIT + 1)}, timeout=30)
    assert_envelope(response, 431, "invalid_request_error")
    many = [(f"x-h{i}", "v") for i in range(200)]
    response = httpx.get(f"{double.base_url}/v1/models", headers=[*HEADERS.items(), *many], timeout=30)
    assert_envelope(response, 431, "invalid_request_error")


# -- the request log: bounded in bytes, no refused request's headers, no credentials ----------------


SECRETS = {
    "x-api-key": "sk-ant-api03-secret-key-AAAA",
    "authorization": "Bearer sk-ant-oat01-secret-token-BBBB",
    "proxy-authorization": "Basic dXNlcjpwYXNzd29yZC1DQ0ND",
    "cookie": "session=secret-session-DDDD",
    "set-cookie": "session=secret-session-EEEE",
    "x-dateline-admin-token": "admin-secret-token-FFFF",
    "api-key": "azure-secret-key-GGGG",
}


def test_credentials_are_redacted_in_the_log(double: DatelineServer):
    double.reset()
    response = httpx.post(f"{double.base_url}/v1/messages", json=message("hi"),
                          headers={**SECRETS, "anthropic-version": "2023-06-01"}, timeout=30)
    assert response.status_code == 200, response.text
    answer = httpx.get(f"{double.base_url}/_dateline/requests", timeout=30)
    [entry] = answer.json()["data"]
    for name, value in SECRETS.items():
        secret = value.rpartition(" ")[2]
        assert secret[:-4] not in answer.text, name
        assert entry["headers"][name].endswith(secret[-4:]), (name, entry["headers"][name])
    assert entry["headers"]["authorization"].startswith("Bearer ")
    assert entry["api_key"].endswith("AAAA") and "secret" not in entry["api_key"]
    assert entry["headers"]["anthropic-version"] == "2023-06-01"  # everything else as sent


def test_refused_unauthenticated_requests_keep_no_headers_or_body():
    with DatelineServer(api_keys=["sk-ant-the-only-good-key"]) as running:
        response = httpx.post(f"{running.base_url}/v1/messages", json=message("my body"), timeout=30,
                              headers={"x-api-key": "sk-ant-a-wrong-key", "anthropic-version": "2023-06-01",
                                       "x-attacker": "a" * 10_000})
        assert response.status_code == 401
        [entry] = running.requests()
    assert entry["status"] == 401 and entry["path"] == "/v1/messages"
    assert entry["headers"] == {} and entry["body"] is None and entry["api_key"] is None


def test_the_log_is_bounded_in_bytes():
    def count(text: str) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
        response = httpx.post(f"{running.base_url}/v1/messages/count_tokens", json=body, headers=HEADERS, timeout=30)
        assert response.status_code == 200, response.text

    with DatelineServer(request_log_bytes=1024 * 1024) as running:
        for n in range(10):
            count(f"{n} " + words(300 * 1024))
        entries = running.requests()
        # The newest that fit, oldest first.
        assert [e["body"]["messages"][0]["content"][:2] for e in entries] == ["7 ", "8 ", "9 "]
        count(words(2 * 1024 * 1024))
        last = running.requests()[-1]
        # An entry bigger than the whole log keeps all but its body.
        assert last["status"] == 200 and last["body"] is None and last["headers"]["anthropic-version"]
        assert running.state.log.bytes <= 1024 * 1024


def test_big_bodies_do_not_grow_the_log_without_bound(process: Served):
    body = orjson.dumps(message(words(1024 * 1024)))
    headers = {**HEADERS, "content-type": "application/json", "dateline-fault": "overloaded_error"}
    with httpx.Client(base_url=process.base_url, headers=headers, timeout=60) as client:
        client.post("/v1/messages", content=body)
        before = rss_mb(process.proc.pid)
        for _ in range(150):
            assert client.post("/v1/messages", content=body).status_code == 529
    grown = rss_mb(process.proc.pid) - before
    assert grown < 80, f"RSS grew {grown:.0f} MB for 150 MB of bodies"
