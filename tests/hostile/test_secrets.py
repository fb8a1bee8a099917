"""Secrets and the admin surface: the admin API is never served unguarded
beyond loopback, tokens are compared in constant time, secrets stay out of
``ps`` and every worker's environment, the thinking-signature key is no
public constant, forwarded headers count only from trusted proxies, and no
credential reaches a cassette, an error or a log."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from conftest import free_port
from processes import Served, clean_env, dateline_command
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dateline import errors
from dateline.http._auth import check_admin
from dateline.testing import AppThread, DatelineServer
from dateline.thinking import Signer
from dateline.upstream import RecordingTransport

MODEL = "claude-sonnet-4-5"
THINKING = {"type": "enabled", "budget_tokens": 1024}
FIRST = [{"role": "user", "content": "Think about tide pools"}]
VERSION = {"anthropic-version": "2023-06-01"}


# --- the admin API beyond loopback ---------------------------------------------------------


def serve_until_exit(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``dateline serve`` that is expected to refuse to start: its exit, or a failure if it serves."""
    proc = subprocess.Popen(
        [dateline_command(), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"dateline serve {' '.join(args)} started serving:\n{out}{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_an_unguarded_admin_api_is_refused_beyond_loopback(host: str):
    result = serve_until_exit("--host", host, "--port", str(free_port()))
    assert result.returncode != 0
    assert "--admin-token" in result.stderr and "/_dateline/" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_empty_admin_token_guards_nothing(tmp_path: Path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = serve_until_exit("--host", "0.0.0.0", "--port", str(free_port()), "--admin-token-file", str(empty))
    assert result.returncode != 0 and "--admin-token" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost"])
def test_loopback_stays_unguarded_by_default(tmp_path: Path, host: str):
    served = Served(tmp_path / "serve.log", "--host", host)
    url = f"http://{'127.0.0.2' if host == '127.0.0.2' else '127.0.0.1'}:{served.port}/_dateline/rules"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert served.proc.poll() is None, served.output()
            try:
                assert httpx.get(url, timeout=5).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, served.output()
                time.sleep(0.1)
    finally:
        served.stop()


def test_a_guarded_admin_api_is_served_on_every_interface(tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("s3cret-admin-token\n")
    served = Served(tmp_path / "serve.log", "--host", "0.0.0.0", "--admin-token-file", str(token))
    try:
        served.wait_ready()
        url = f"{served.base_url}/_dateline/rules"
        assert httpx.get(url, timeout=10).status_code == 401
        ok = httpx.get(url, headers={"authorization": "Bearer s3cret-admin-token"}, timeout=10)
        assert ok.status_code == 200  # the file's trailing newline is not part of the token
    finally:
        served.stop()


def test_admin_tokens_are_compared_in_constant_time():
    """A wrong token costs the same to refuse whether it differs at its first
    character or its last: ``==`` on strings stops at the first difference."""
    token = "t" * 16_000_000
    early = [(b"x-dateline-admin-token", b"u" + b"t" * (len(token) - 1))]
    late = [(b"x-dateline-admin-token", b"t" * (len(token) - 1) + b"u")]

    def refusal(headers: list[tuple[bytes, bytes]]) -> float:
        started = time.perf_counter()
        with pytest.raises(errors.AuthenticationError):
            check_admin(headers, token)
        return time.perf_counter() - started

    # Alternated, the fastest of each: what other load on the machine adds falls on both alike.
    times = [(refusal(early), refusal(late)) for _ in range(9)]
    early_time, late_time = min(t[0] for t in times), min(t[1] for t in times)
    # With ==, the early difference was refused in 0.65 of the time (decoding the header is the rest).
    assert early_time >= 0.85 * late_time, (early_time, late_time)
    check_admin([(b"x-dateline-admin-token", token.encode())], token)  # the right one passes
    check_admin([(b"authorization", b"Bearer " + token.encode())], token)


# --- secrets out of ps and the workers' environment ------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (uvicorn's workers, multiprocessing's helpers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def exposed(pid: int) -> str:
    """What ``ps e`` and ``/proc`` show of a process: its command line and its environment."""
    shown = ""
    for name in ("cmdline", "environ"):
        try:
            shown += (Path("/proc") / str(pid) / name).read_bytes().replace(b"\0", b" ").decode("latin-1")
        except OSError:
            pass  # gone meanwhile
    return shown


def workers_of(served: Served, count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while True:
        pythons = [p for p in descendants(served.proc.pid) if "spawn_main" in exposed(p)]
        if len(pythons) >= count:
            return pythons
        assert time.monotonic() < deadline, f"{len(pythons)} workers after 60 s:\n{served.output()}"
        time.sleep(0.1)


SECRETS = {
    "admin": "admin-secret-7d1f",
    "key": "sk-client-secret-5e2a",
    "upstream": "sk-upstream-secret-90b3",
    "signing": "signing-secret-c44e",
}


@pytest.fixture
def secret_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, value in SECRETS.items():
        files[name] = tmp_path / f"{name}.secret"
        files[name].write_text(value + "\n")
        files[name].chmod(0o600)
    return files


def check_guarded(served: Served) -> None:
    """The secrets are in force in every worker (requests spread over them by the kernel)."""
    for _ in range(6):
        with httpx.Client(base_url=served.base_url, timeout=10) as http:  # a new connection each time
            assert http.get("/_dateline/rules").status_code == 401
            admin = http.get("/_dateline/rules", headers={"x-dateline-admin-token": SECRETS["admin"]})
            assert admin.status_code == 200
            assert http.get("/v1/models", headers={"x-api-key": "sk-other", **VERSION}).status_code == 401
            assert http.get("/v1/models", headers={"x-api-key": SECRETS["key"], **VERSION}).status_code == 200


def test_secrets_from_files_are_in_no_command_line_or_environment(tmp_path: Path, secret_files: dict[str, Path]):
    served = Served(
        tmp_path / "serve.log", "--workers", "2",
        "--admin-token-file", str(secret_files["admin"]), "--api-key-file", str(secret_files["key"]),
        "--signing-key-file", str(secret_files["signing"]),
        "--anthropic-upstream", "http://127.0.0.1:9", "--anthropic-api-key-file", str(secret_files["upstream"]),
    )
    try:
        served.wait_ready()
        workers = workers_of(served, 2)
        check_guarded(served)
        for pid in [served.proc.pid, *descendants(served.proc.pid)]:
            shown = exposed(pid)
            assert not [name for name, value in SECRETS.items() if value in shown], (pid, workers)
    finally:
        served.stop()


@pytest.mark.parametrize("given", ["flags", "environment"])
def test_secrets_are_not_exported_to_the_workers(tmp_path: Path, given: str):
    """Flags are the user's own choice to show in ``ps``; the workers must not
    repeat them in their environment, nor inherit them from the parent's."""
    secrets = ["--admin-token", SECRETS["admin"], "--api-key", SECRETS["key"]]
    env = clean_env()
    if given == "environment":
        secrets = []
        env = clean_env(DATELINE_ADMIN_TOKEN=SECRETS["admin"], DATELINE_API_KEYS=json.dumps([SECRETS["key"]]))
    served = Served(tmp_path / "serve.log", "--workers", "2", *secrets, env=env)
    try:
        served.wait_ready()
        workers = workers_of(served, 2)
        check_guarded(served)
        for pid in workers:
            shown = exposed(pid)
            assert SECRETS["admin"] not in shown and SECRETS["key"] not in shown, (pid, shown)
    finally:
        served.stop()


def test_a_secret_is_given_one_way_only(tmp_path: Path, secret_files: dict[str, Path]):
    result = serve_until_exit(
        "--port", str(free_port()), "--admin-token", "x", "--admin-token-file", str(secret_files["admin"])
    )
    assert result.returncode == 2 and "--admin-token" in result.stderr and "--admin-token-file" in result.stderr
    missing = serve_until_exit("--port", str(free_port()), "--api-key-file", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "nowhere" in missing.stderr and "Traceback" not in missing.stderr


def test_a_bad_setting_is_reported_without_its_value():
    proc = subprocess.run(
        [dateline_command(), "serve", "--port", str(free_port())], capture_output=True, text=True, timeout=60,
        env=clean_env(DATELINE_API_KEYS="sk-not-json-secret,sk-b", DATELINE_ADMIN_TOKEN="tok-secret"),
    )
    assert proc.returncode == 2
    assert "api_keys" in proc.stderr.lower()
    assert "sk-not-json-secret" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


# --- the thinking-signature key --------------------------------------------------------------


def think(base_url: str) -> dict:
    """A thinking block the server at ``base_url`` made, with its signature."""
    with anthropic.Anthropic(base_url=base_url, api_key="sk-test", max_retries=0, timeout=60) as client:
        answer = client.messages.create(model=MODEL, max_tokens=2048, thinking=THINKING, messages=FIRST)
    block = answer.content[0]
    assert block.type == "thinking" and block.signature
    return block.model_dump(include={"type", "thinking", "signature"})


def follow_up(base_url: str, block: dict) -> httpx.Response:
    messages = [*FIRST, {"role": "assistant", "content": [block]}, {"role": "user", "content": "And then?"}]
    body = {"model": MODEL, "max_tokens": 2048, "thinking": THINKING, "messages": messages}
    return httpx.post(f"{base_url}/v1/messages", json=body, headers={"x-api-key": "k", **VERSION}, timeout=60)


def refused_signature(response: httpx.Response) -> bool:
    return response.status_code == 400 and "Invalid `signature`" in response.json()["error"]["message"]


def test_replicas_on_one_database_share_a_generated_key(tmp_path: Path, database_url: str):
    one = Served(tmp_path / "one.log", "--database-url", database_url, "--data-dir", str(tmp_path / "one"))
    two = Served(tmp_path / "two.log", "--database-url", database_url, "--data-dir", str(tmp_path / "two"))
    elsewhere = Served(tmp_path / "elsewhere.log", "--data-dir", str(tmp_path / "elsewhere"))
    try:
        for served in (one, two, elsewhere):
            served.wait_ready()
        block = think(one.base_url)
        assert follow_up(two.base_url, block).status_code == 200  # signed by one, verified by the other
        assert follow_up(one.base_url, think(two.base_url)).status_code == 200
        assert refused_signature(follow_up(elsewhere.base_url, block))  # another database, another key
        # The old built-in key is public: what it signs is no longer taken.
        forged = {**block, "signature": Signer("dateline-built-in-signing-key").sign(block["thinking"])}
        assert refused_signature(follow_up(one.base_url, forged))
    finally:
        for served in (one, two, elsewhere):
            served.stop()


def test_a_configured_signing_key_wins_over_the_stored_one(tmp_path: Path, secret_files: dict[str, Path]):
    served = Served(
        tmp_path / "serve.log", "--data-dir", str(tmp_path / "data"), "--signing-key-file", str(secret_files["signing"])
    )
    try:
        served.wait_ready()
        block = think(served.base_url)
        assert Signer(SECRETS["signing"]).verify(block["thinking"], block["signature"])
    finally:
        served.stop()


# --- X-Forwarded-Host and -Proto --------------------------------------------------------------


def results_url(served: Served, headers: dict[str, str]) -> str:
    with anthropic.Anthropic(base_url=served.base_url, api_key="k", max_retries=0, timeout=30) as client:
        params = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": params}])
        deadline = time.monotonic() + 30
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    got = httpx.get(
        f"{served.base_url}/v1/messages/batches/{batch.id}", headers={"x-api-key": "k", **VERSION, **headers},
        timeout=30,
    )
    return got.json()["results_url"]


FORWARDED = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}


def test_forwarded_headers_count_only_from_trusted_proxies(tmp_path: Path):
    untrusted = Served(tmp_path / "untrusted.log", env=clean_env(FORWARDED_ALLOW_IPS="10.9.9.9"))
    by_flag = Served(tmp_path / "flag.log", "--forwarded-allow-ips", "10.0.0.0/8")
    trusted = Served(tmp_path / "trusted.log")  # the default: 127.0.0.1, which the tests connect from
    try:
        for served in (untrusted, by_flag, trusted):
            served.wait_ready()
        for served in (untrusted, by_flag):
            assert results_url(served, FORWARDED).startswith(f"http://127.0.0.1:{served.port}/")
        assert results_url(trusted, FORWARDED).startswith("https://evil.example/")
        assert results_url(trusted, {}).startswith(f"http://127.0.0.1:{trusted.port}/")
    finally:
        for served in (untrusted, by_flag, trusted):
            served.stop()


# --- credentials in cassettes, errors and logs --------------------------------------------------


def echoing_upstream() -> AppThread:
    """A hostile upstream: refuses every request, quoting back every header it was sent (keys
    included), in its error message, in a response header and in a cookie."""

    async def refuse(request: Request) -> JSONResponse:
        quoted = "; ".join(f"{name}={value}" for name, value in request.headers.items())
        body = {"type": "error", "error": {"type": "authentication_error", "message": f"bad key: {quoted}"}}
        headers = {"x-echo": quoted[:2000], "set-cookie": f"session={quoted[:200]}"}
        return JSONResponse(body, status_code=401, headers=headers)

    app = Starlette(routes=[Route("/{path:path}", refuse, methods=["GET", "POST"])])
    return AppThread(app, "echoing upstream")


@pytest.fixture(scope="module")
def echoing() -> Iterator[AppThread]:
    upstream = echoing_upstream()
    upstream.start()
    yield upstream
    upstream.stop()


CLIENT_KEY = "sk-ant-client-secret-31337"
UPSTREAM_KEY = "sk-upstream-configured-4242"


@pytest.mark.parametrize(
    ("kind", "configured"), [("anthropic", UPSTREAM_KEY), ("anthropic", None), ("openai", UPSTREAM_KEY)]
)
def test_no_credential_is_recorded_answered_or_logged(
    tmp_path: Path, echoing: AppThread, caplog: pytest.LogCaptureFixture, kind: str, configured: str | None
):
    cassette = tmp_path / "cassette.jsonl"
    root = f"http://127.0.0.1:{echoing.port}"
    options = {f"{kind}_upstream": root + ("/v1" if kind == "openai" else ""), f"{kind}_api_key": configured}
    body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
    with caplog.at_level("DEBUG"), DatelineServer(record=cassette, **options) as front:
        headers = {"x-api-key": CLIENT_KEY, **VERSION}
        answers = [
            httpx.post(f"{front.base_url}/v1/messages", json=body, headers=headers, timeout=30),
            httpx.post(f"{front.base_url}/v1/messages", json={**body, "stream": True}, headers=headers, timeout=30),
        ]
        requests = httpx.get(f"{front.base_url}/_dateline/requests", timeout=30).text
    secret = configured or CLIENT_KEY
    assert all(a.status_code >= 400 for a in answers), [a.text for a in answers]
    recorded = cassette.read_text()
    assert recorded and secret not in recorded
    assert "[redacted]" in recorded  # the echo was there, and is blanked out
    for answer in answers:
        assert secret not in answer.text and secret not in str(answer.headers)
    if configured:
        assert configured not in requests  # the error stored in the request log
    assert not [r.getMessage() for r in caplog.records if secret in r.getMessage() + str(r.exc_info)]


def test_credentials_in_a_query_or_header_of_any_name_are_not_recorded(tmp_path: Path, echoing: AppThread):
    cassette = tmp_path / "cassette.jsonl"

    async def exchange() -> None:
        transport = RecordingTransport(cassette)
        request = httpx.Request(
            "POST", f"http://127.0.0.1:{echoing.port}/v1/chat/completions?api-key=q-secret-1&api-version=2024",
            headers={"x-goog-api-key": "g-secret-2", "x-auth-token": "t-secret-3", "openai-project": "proj"},
            json={"model": "m"},
        )
        response = await transport.handle_async_request(request)
        await response.aread()
        await response.aclose()
        await transport.aclose()

    asyncio.run(exchange())
    recorded = cassette.read_text()
    for secret in ("q-secret-1", "g-secret-2", "t-secret-3"):
        assert secret not in recorded, recorded
    exchange_ = json.loads(recorded)
    assert exchange_["request"]["path"].endswith("api-version=2024")
    assert exchange_["request"]["headers"]["openai-project"] == "proj"



def test_an_upstream_url_is_named_without_its_password(caplog: pytest.LogCaptureFixture):
    body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
    unreachable = f"http://user:pw-secret-8841@127.0.0.1:{free_port()}/?api_key=q-secret-5512"
    with caplog.at_level("DEBUG"), DatelineServer(anthropic_upstream=unreachable) as front:
        answer = httpx.post(f"{front.base_url}/v1/messages", json=body, headers={"x-api-key": "k", **VERSION}, timeout=30)
    assert answer.status_code == 529 and "127.0.0.1" in answer.json()["error"]["message"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    for secret in ("pw-secret-8841", "q-secret-5512"):
        assert secret not in answer.text and secret not in logged
