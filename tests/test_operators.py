"""For operators: the Prometheus scrape after a mixed workload on a real
two-worker ``dateline serve`` (every count matching what was sent), its JSON
log lines, ``/health`` and ``/ready`` (failing while PostgreSQL is down, then
recovering), and ``/metrics`` guarded like the admin API."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from conftest import free_port
from fake_openai import FakeOpenAI
from postgres import PostgresServer
from processes import clean_env, dateline_command
from prometheus_client.parser import text_string_to_metric_families

MODEL = "claude-sonnet-4-5"
VERSION = "2026-10-21"  # the version SDK 2.17.0 sends
ADMIN = "admin-token-for-metrics"


class Server:
    """``dateline serve`` with its stderr kept apart (the log lines) from its stdout."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.err_path = tmp / f"serve-{self.port}.err"
        self.err = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            [dateline_command(), "serve", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL,
            stderr=self.err,
            env=clean_env(**(env or {})),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr()
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not up after {timeout}s:\n{self.stderr()}")

    def stderr(self) -> str:
        if not self.err.closed:
            self.err.flush()
        return self.err_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.err.close()


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and labels, as prometheus-client's parser reads them."""
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Server]:
    server = Server(
        tmp_path,
        "--workers",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
        "--redis-url",
        redis_url,
        "--batch-poll-interval",
        "0.1",
        "--log-format",
        "json",
    )
    try:
        yield server.wait()
    finally:
        server.stop()


def test_a_scrape_after_a_mixed_workload_counts_it_exactly(workers: Server, redis_url: str) -> None:
    url = workers.url
    made = [
        httpx.post(f"{url}/_dateline/keys", json={"name": "plain"}, timeout=30),
        httpx.post(
            f"{url}/_dateline/keys", json={"name": "limited", "rate_limits": {"requests_per_minute": 1}}, timeout=30
        ),
    ]
    assert [m.status_code for m in made] == [200, 200], [m.text for m in made]
    plain, limited = (m.json() for m in made)
    body = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "Hello there"}]}
    request_ids: set[str] = set()
    usages: list[dict[str, Any]] = []

    def client(secret: str) -> anthropic.Anthropic:
        # A new connection per request (no keep-alive), so both workers answer some.
        return anthropic.Anthropic(
            base_url=url,
            api_key=secret,
            max_retries=0,
            http_client=httpx2.Client(limits=httpx2.Limits(max_keepalive_connections=0)),
        )

    sdk = client(plain["secret"])
    for _ in range(3):
        message = sdk.messages.create(**body)
        usages.append(message.usage.model_dump())
        request_ids.add(message._request_id)
    for _ in range(2):
        with sdk.messages.stream(**body) as stream:
            message = stream.get_final_message()
        usages.append(message.usage.model_dump())
    for _ in range(2):
        sdk.messages.count_tokens(model=MODEL, messages=body["messages"])
    with pytest.raises(anthropic.BadRequestError):
        sdk.messages.create(model=MODEL, max_tokens=20, messages=[])
    capped = client(limited["secret"])
    usages.append(capped.messages.create(**body).usage.model_dump())
    with pytest.raises(anthropic.RateLimitError):
        capped.messages.create(**body)

    # A batch of two, polled by hand (each poll is a request counted too), and its results read.
    headers = {"x-api-key": plain["secret"], "anthropic-version": VERSION}
    batch = httpx.post(
        f"{url}/v1/messages/batches",
        headers=headers,
        timeout=30,
        json={
            "requests": [
                {
                    "custom_id": f"r{i}",
                    "params": {**body, "messages": [{"role": "user", "content": f"Batch prompt {i}"}]},
                }
                for i in range(2)
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    polls = 0
    deadline = time.monotonic() + 60
    while True:
        polls += 1
        state = httpx.get(f"{url}/v1/messages/batches/{batch.json()['id']}", headers=headers, timeout=30).json()
        if state["processing_status"] == "ended" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state["request_counts"]["succeeded"] == 2, state
    results = httpx.get(state["results_url"], headers=headers, timeout=30)
    batch_usages = [json.loads(line)["result"]["message"]["usage"] for line in results.text.splitlines()]

    ready = httpx.get(f"{url}/ready", timeout=10)
    assert ready.json() == {"status": "ready", "checks": {"store": "ok", "migrations": "ok", "redis": "ok"}}
    samples = scrape(url)
    # Whichever worker answers the scrape, it sums both: the same figures every time.
    for _ in range(4):
        again = scrape(url)
        assert {k: v for k, v in again.items() if k[0].startswith("dateline_")} == {
            k: v for k, v in samples.items() if k[0].startswith("dateline_")
        }

    def requests(endpoint: str, method: str, status: int, key: str, model: str = MODEL, version: str = VERSION):
        return value(
            samples,
            "dateline_requests_total",
            endpoint=endpoint,
            method=method,
            version=version,
            model=model,
            status=str(status),
            key=key,
        )

    p, q = plain["id"], limited["id"]
    assert requests("messages", "POST", 200, p) == 5
    assert requests("count_tokens", "POST", 200, p) == 2
    assert requests("messages", "POST", 400, p) == 1
    assert requests("messages", "POST", 200, q) == 1
    assert requests("messages", "POST", 429, q) == 1
    assert requests("batches", "POST", 200, p, model="") == 1
    assert requests("batches", "GET", 200, p, model="") == polls + 1  # the polls and the results
    assert requests("admin", "POST", 200, "", model="", version="") == 2
    assert total(samples, "dateline_requests_total") == 5 + 2 + 1 + 1 + 1 + 1 + polls + 1 + 2
    assert value(samples, "dateline_rate_limit_rejections_total", endpoint="messages", key=q) == 1
    assert total(samples, "dateline_rate_limit_rejections_total") == 1
    # Latency for every Messages request (the 400 and the 429 too), time to first token for the streams.
    assert value(samples, "dateline_request_duration_seconds_count", endpoint="messages", model=MODEL) == 8
    assert value(samples, "dateline_time_to_first_token_seconds_count", model=MODEL) == 2
    assert value(samples, "dateline_open_streams") == 0
    for kind, field in (("input", "input_tokens"), ("output", "output_tokens")):
        answered = sum(u[field] for u in usages)
        assert answered > 0
        assert total(samples, "dateline_tokens_total", kind=kind, batch="false") == answered
        assert (
            value(samples, "dateline_tokens_total", kind=kind, batch="false", key=q, model=MODEL) == usages[-1][field]
        )
        assert total(samples, "dateline_tokens_total", kind=kind, batch="true", key=p) == sum(
            u[field] for u in batch_usages
        )
    assert value(samples, "dateline_batch_requests", state="succeeded") == 2
    assert value(samples, "dateline_batch_requests", state="pending") == 0
    assert total(samples, "dateline_upstream_requests_total") == 0  # the built-in model: no upstream

    # The log: every stderr line one JSON object; one line per request, no secret anywhere.
    log = workers.stderr()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(line["logger"].startswith("uvicorn") and "Started server process" in line["message"] for line in lines)
    served = [line for line in lines if line["logger"] == "dateline.request"]
    assert len(served) == total(samples, "dateline_requests_total")
    for secret in (plain["secret"], limited["secret"], redis_url):
        assert secret not in log
    by_id = {line["request_id"]: line for line in served}
    for rid in request_ids:
        line = by_id[rid]
        assert line["status"] == 200 and line["key"] == p and line["version"] == VERSION and line["model"] == MODEL
        assert line["endpoint"] == "messages" and line["path"] == "/v1/messages" and line["latency_ms"] > 0
        assert line["input_tokens"] == usages[0]["input_tokens"] and line["output_tokens"] == usages[0]["output_tokens"]
        assert "upstream" not in line
    streamed = [line for line in served if line.get("stream")]
    assert len(streamed) == 2 and all(line["first_token_ms"] <= line["latency_ms"] for line in streamed)
    refused = [line for line in served if line["status"] == 429]
    assert len(refused) == 1 and refused[0]["key"] == q and refused[0]["error"] == "rate_limit_error"
    assert {line["pid"] for line in served} <= {line["pid"] for line in lines if line["logger"].startswith("uvicorn")}


def test_metrics_are_guarded_like_the_admin_api(tmp_path: Path) -> None:
    server = Server(tmp_path, "--data-dir", str(tmp_path / "data"), "--admin-token", ADMIN, "--log-format", "text")
    try:
        url = server.wait().url
        for headers in ({}, {"authorization": "Bearer wrong"}):
            refused = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["type"] == "authentication_error"
        answer = httpx.post(
            f"{url}/v1/messages",
            headers={"x-api-key": "k", "anthropic-version": VERSION},
            json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]},
        )
        assert answer.status_code == 200
        for headers in ({"authorization": f"Bearer {ADMIN}"}, {"x-dateline-admin-token": ADMIN}):
            samples = scrape(url, **headers)
            assert (
                value(
                    samples,
                    "dateline_requests_total",
                    endpoint="messages",
                    method="POST",
                    version=VERSION,
                    model=MODEL,
                    status="200",
                    key="default",
                )
                == 1
            )
        # /health and /ready are for load balancers: unguarded.
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        assert httpx.get(f"{url}/ready").status_code == 200
    finally:
        server.stop()
    # Text lines: the request's facts as name=value, uvicorn's lines in the same shape.
    log = server.stderr()
    (line,) = [line for line in log.splitlines() if "dateline.request:" in line]
    assert "status=200" in line and f"model={MODEL}" in line and "key=default" in line
    assert f"request_id={answer.headers['request-id']}" in line
    assert any(" INFO    uvicorn.error: Started server process" in line for line in log.splitlines())
    assert not any(line.startswith("{") for line in log.splitlines())


def test_no_metrics_serves_none(tmp_path: Path) -> None:
    server = Server(tmp_path, "--data-dir", str(tmp_path / "data"), "--no-metrics")
    try:
        answer = httpx.get(f"{server.wait().url}/metrics", timeout=10)
        assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found_error"
    finally:
        server.stop()


def test_one_process_given_a_metrics_dir_starts_from_zero(tmp_path: Path) -> None:
    # PROMETHEUS_MULTIPROC_DIR set for one process: an earlier run's files there are not summed in.
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": VERSION}
    for run in (1, 2):
        server = Server(tmp_path, "--data-dir", str(tmp_path / "data"), env=env)
        try:
            url = server.wait().url
            assert httpx.post(f"{url}/v1/messages", json=body, headers=headers, timeout=30).status_code == 200
            assert total(scrape(url), "dateline_requests_total", endpoint="messages") == 1, run
        finally:
            server.stop()


def test_ready_fails_while_postgresql_is_down_and_recovers(tmp_path: Path) -> None:
    postgres = PostgresServer().start()
    try:
        database = postgres.create_database("ready")
        server = Server(tmp_path, "--database-url", database, "--data-dir", str(tmp_path / "data"))
        try:
            url = server.wait().url
            ready = httpx.get(f"{url}/ready", timeout=10)
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ready", "checks": {"store": "ok", "migrations": "ok"}}
            postgres._run("pg_ctl", "-D", str(postgres.datadir), "-m", "fast", "-w", "stop")
            down = httpx.get(f"{url}/ready", timeout=10)
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "not ready" and down.json()["checks"]["store"] != "ok"
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # the process still answers
            # The scrape goes on without the store's figures.
            assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
            options = f"-p {postgres.port} -k {postgres.sockdir} -c listen_addresses={postgres.host} -c fsync=off"
            postgres._run(
                "pg_ctl", "-D", str(postgres.datadir), "-l", str(postgres.logfile), "-o", options, "-w", "start"
            )
            deadline = time.monotonic() + 30
            while (again := httpx.get(f"{url}/ready", timeout=10)).status_code != 200:
                assert time.monotonic() < deadline, again.text
                time.sleep(0.2)
            assert again.json()["checks"] == {"store": "ok", "migrations": "ok"}
        finally:
            server.stop()
    finally:
        postgres.stop()


def test_upstream_requests_failures_and_cooldowns_are_counted(tmp_path: Path) -> None:
    config = tmp_path / "upstreams.toml"
    config.write_text(
        f"""cooldown = 60
[upstreams.gone]
kind = "openai"
base_url = "http://127.0.0.1:{free_port()}/v1"
[upstreams.local]
kind = "openai"
[models."{MODEL}"]
upstreams = ["gone", "local"]
upstream_model = "tiny"
"""
    )
    with FakeOpenAI() as fake:
        text = config.read_text().replace(
            '[upstreams.local]\nkind = "openai"', f'[upstreams.local]\nkind = "openai"\nbase_url = "{fake.base_url}/v1"'
        )
        config.write_text(text)
        server = Server(tmp_path, "--config", str(config), "--data-dir", str(tmp_path / "data"), "--log-format", "json")
        try:
            url = server.wait().url
            headers = {"x-api-key": "k", "anthropic-version": VERSION}
            body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
            # The first goes to `gone` first, fails over to `local`; `gone` then sits out its cool-down.
            for _ in range(3):
                answer = httpx.post(f"{url}/v1/messages", headers=headers, json=body, timeout=30)
                assert answer.status_code == 200, answer.text
            samples = scrape(url)
        finally:
            server.stop()
    assert value(samples, "dateline_upstream_requests_total", upstream="gone", status="error") == 1
    assert value(samples, "dateline_upstream_failures_total", upstream="gone", reason="unreachable") == 1
    assert value(samples, "dateline_upstream_cooldowns_total", upstream="gone") == 1
    assert value(samples, "dateline_upstream_requests_total", upstream="local", status="200") == 3
    assert total(samples, "dateline_upstream_failures_total", upstream="local") == 0
    lines = [json.loads(line) for line in server.stderr().splitlines() if line.strip()]
    served = [line for line in lines if line["logger"] == "dateline.request"]
    assert [line["upstream"] for line in served] == ["local"] * 3
