"""Hostile CPU work: requests and rules that cost the server far more than
they cost the client. Tool names searched in a megabyte of text, tens of
thousands of beta values, big bodies and schemas, a rule regex that
backtracks, a YAML alias bomb: each is answered (or refused with the API's
envelope, its message bounded) while other clients keep being served.

The server is a real ``dateline serve`` process, so the attacker, the probe
and the server do not share an interpreter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from latency_probe import LatencyProbe
from processes import Served

HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-4-6"  # a 1M window: these prompts are long
#: Another client's worst wait during an attack.
STALL = 0.5
#: No error message the server sends is bigger than this (the body around it adds little).
ERROR_BODY = 16 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("cpu")
    served = Served(folder / "serve.log", "--data-dir", str(folder / "data"))
    try:
        yield served.wait_ready()
    finally:
        served.stop()


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=120) as http:
        yield http
        http.delete("/_dateline/rules")


def message(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}], **fields}


def assert_envelope(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert len(response.content) <= ERROR_BODY, len(response.content)
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type, body
    assert body["request_id"] == response.headers["request-id"]
    return body


def attack(server: Served, send: Any) -> httpx.Response:
    """``send()`` while another client keeps asking; fails if that client waited too long."""
    with LatencyProbe(server.base_url) as probe:
        response = send()
    assert probe.worst <= STALL, probe.report()
    return response


# --- tool names in the built-in model ------------------------------------------------------


def test_tool_names_in_a_megabyte_of_text_do_not_stall(server: Served, client: httpx.Client):
    tools = [{"name": f"lookup_record_{i}", "input_schema": {"type": "object"}} for i in range(200)]
    text = "please look this up " * 50_000 + "with lookup record 150"
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        tools=tools, messages=[{"role": "user", "content": text}])))
    assert response.status_code == 200, response.text
    call = [b for b in response.json()["content"] if b["type"] == "tool_use"]
    assert [b["name"] for b in call] == ["lookup_record_150"]  # the tool the text names, found at its very end


# --- anthropic-beta ------------------------------------------------------------------------


def test_beta_values_up_to_the_head_limit_are_refused_at_once(server: Served, client: httpx.Client):
    header = ",".join(f"x-{i}" for i in range(8_000))  # 56 KB: within the limit on a request's head
    response = attack(server, lambda: client.post("/v1/messages", json=message(), headers={"anthropic-beta": header}))
    body = assert_envelope(response, 400, "invalid_request_error")
    assert body["error"]["message"] == "anthropic-beta: at most 128 values may be given, not 8000"


def test_too_many_beta_values_are_refused_with_a_short_message(client: httpx.Client):
    header = ",".join(f"x-{i}" for i in range(1_000))
    body = assert_envelope(client.post("/v1/messages", json=message(), headers={"anthropic-beta": header}),
                           400, "invalid_request_error")
    assert body["error"]["message"] == "anthropic-beta: at most 128 values may be given, not 1000"


def test_many_unknown_betas_are_named_in_a_bounded_message(client: httpx.Client):
    header = ",".join([f"x-{i}" for i in range(100)] + ["y" * 5_000])
    body = assert_envelope(client.post("/v1/messages", json=message(), headers={"anthropic-beta": header}),
                           400, "invalid_request_error")
    text = body["error"]["message"]
    assert text.startswith("Unexpected value(s) `x-0`, `x-1`, ") and "and 85 more" in text, text
    assert text.endswith("for the `anthropic-beta` header. Please consult our documentation at docs.anthropic.com"
                         " or try again without the header."), text


# --- big bodies ----------------------------------------------------------------------------


def test_a_thirty_megabyte_text_does_not_stall(server: Served, client: httpx.Client):
    text = "tide pools and rock shelves " * 1_100_000  # 5.5M tokens: counted, then refused
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        messages=[{"role": "user", "content": text}])))
    body = assert_envelope(response, 400, "invalid_request_error")
    assert body["error"]["message"] == "prompt is too long: 5500008 tokens > 1000000 maximum", body


def test_a_five_megabyte_text_within_the_window_does_not_stall(server: Served, client: httpx.Client):
    text = "tide pools and rock shelves " * 180_000  # 900K tokens: answered
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        messages=[{"role": "user", "content": text}])))
    assert response.status_code == 200, response.text[:500]
    assert 900_000 < response.json()["usage"]["input_tokens"] < 1_000_000


def test_a_million_small_blocks_do_not_stall(server: Served, client: httpx.Client):
    blocks = [{"type": "text", "text": "w"}] * 400_000
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        messages=[{"role": "user", "content": blocks}])))
    assert response.status_code == 200, response.text[:500]


def test_a_million_invalid_items_do_not_stall(server: Served, client: httpx.Client):
    raw = orjson.dumps(message(messages=[1] * 1_000_000))  # 2 MB: every item is an error
    response = attack(server, lambda: client.post("/v1/messages", content=raw,
                                                  headers={"content-type": "application/json"}))
    body = assert_envelope(response, 400, "invalid_request_error")
    assert body["error"]["message"] == "messages.0: Input should be a valid dictionary"


def test_a_big_batch_request_does_not_stall(server: Served, client: httpx.Client):
    params = message(messages=[1] * 1_000_000)  # 2 MB of errors: processed long after the batch is created

    def run_batch() -> httpx.Response:
        created = client.post("/v1/messages/batches", json={"requests": [{"custom_id": "big", "params": params}]})
        assert created.status_code == 200, created.text[:500]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            batch = client.get(f"/v1/messages/batches/{created.json()['id']}")
            if batch.json()["processing_status"] == "ended":
                return batch
            time.sleep(0.2)
        raise AssertionError("the batch did not end")

    batch = attack(server, run_batch)
    assert batch.json()["request_counts"]["errored"] == 1, batch.json()
    results = client.get(f"/v1/messages/batches/{batch.json()['id']}/results")
    error = orjson.loads(results.content.splitlines()[0])["result"]["error"]
    assert error["error"]["message"] == "messages.0: Input should be a valid dictionary", error


def big_schema(properties: int, salt: str = "") -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f"field_{salt}{i}": {"type": "string", "description": "a field " * 4} for i in range(properties)},
        "required": ["field_0" if not salt else f"field_{salt}0"],
    }


def test_a_big_input_schema_does_not_stall(server: Served, client: httpx.Client):
    tools = [{"name": "record", "input_schema": big_schema(25_000)}]  # 1.7 MB, 850K tokens: within the window
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        tools=tools, tool_choice={"type": "any"})))
    assert response.status_code == 200, response.text[:500]
    assert response.json()["content"][0]["name"] == "record"


def test_a_backtracking_schema_pattern_does_not_stall(server: Served, client: httpx.Client):
    schema = {"type": "object", "properties": {"q": {"type": "string", "pattern": "(x|xx)+y$", "minLength": 40}},
              "required": ["q"]}
    tools = [{"name": "record", "input_schema": schema}]
    text = "x" * 31 + " please"  # the model draws string values from these words
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        tools=tools, tool_choice={"type": "any"}, messages=[{"role": "user", "content": text}])))
    assert response.status_code == 200, response.text[:500]
    assert response.json()["content"][0]["input"]["q"]


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_compiled_schemas_are_bounded_in_bytes(server: Served, client: httpx.Client):
    def ask(salt: str) -> None:
        tools = [{"name": "record", "input_schema": big_schema(15_000, salt)}]  # 1 MB each
        response = client.post("/v1/messages", json=message(tools=tools, tool_choice={"type": "any"}))
        assert response.status_code == 200, response.text[:500]

    ask("warm")
    before = rss(server.proc.pid)
    for n in range(24):
        ask(f"s{n}_")
    grown = rss(server.proc.pid) - before
    assert grown < 120 * 1024 * 1024, f"RSS grew {grown / 2**20:.0f} MB"


# --- rule regexes --------------------------------------------------------------------------


def put_rules(client: httpx.Client, rules: Any) -> httpx.Response:
    return client.put("/_dateline/rules", content=orjson.dumps(rules), headers={"content-type": "application/json"})


def test_a_backtracking_rule_regex_does_not_stall(server: Served, client: httpx.Client):
    assert put_rules(client, [{"match": {"last_user": "^(a+)+$"}, "reply": {"text": "All a."}}]).status_code == 200
    response = attack(server, lambda: client.post("/v1/messages", json=message(
        messages=[{"role": "user", "content": "a" * 27 + "!"}])))
    assert response.status_code == 200 and response.json()["content"][0]["text"] != "All a."
    answered = client.post("/v1/messages", json=message(messages=[{"role": "user", "content": "a" * 27}]))
    assert answered.json()["content"][0]["text"] == "All a."


@pytest.mark.parametrize(
    ("match", "named"),
    [
        ({"last_user": r"(a)\1"}, "invalid escape sequence"),
        ({"last_user": "(?=weather)"}, "invalid perl operator"),
        ({"headers": {"X-Case": "(?<!a)b"}}, "X-Case"),
    ],
)
def test_rule_regexes_the_engine_cannot_run_are_refused_at_load(client: httpx.Client, match: dict, named: str):
    body = assert_envelope(put_rules(client, [{"name": "slow", "match": match, "reply": {"text": "x"}}]),
                           400, "invalid_request_error")
    assert "rule 1 ('slow')" in body["error"]["message"] and named in body["error"]["message"], body
    assert "linear-time" in body["error"]["message"], body


# --- YAML from the admin API ---------------------------------------------------------------


def alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "x:\n" + "\n".join("  " + line for line in lines) + f"\nrules:\n- name: *a{levels - 1}\n  bogus: 1\n"


def test_a_yaml_alias_bomb_is_refused_at_once(server: Served, client: httpx.Client):
    bomb = alias_bomb(8)
    assert len(bomb) < 500
    started = time.monotonic()
    response = attack(server, lambda: client.put("/_dateline/rules", content=bomb,
                                                 headers={"content-type": "application/yaml"}))
    assert time.monotonic() - started < 2
    body = assert_envelope(response, 400, "invalid_request_error")
    assert "alias" in body["error"]["message"], body


def test_yaml_aliases_within_bounds_still_load(client: httpx.Client):
    rules = "- match: {last_user: weather}\n  reply: &sunny {text: Sunny.}\n- match: {last_user: sun}\n  reply: *sunny\n"
    response = client.put("/_dateline/rules", content=rules, headers={"content-type": "application/yaml"})
    assert response.status_code == 200, response.text
    assert [r["reply"]["text"] for r in response.json()["rules"]] == ["Sunny.", "Sunny."]


# --- every error message is bounded --------------------------------------------------------


def test_error_messages_that_echo_the_request_are_bounded(client: httpx.Client):
    body = assert_envelope(client.post("/v1/messages", json=message(model="m" * 1_000_000)), 404, "not_found_error")
    text = body["error"]["message"]
    assert text.startswith("model: mmmm") and text.endswith("[message truncated: 1000007 characters in all]"), text[-80:]


def test_rule_errors_that_echo_the_rules_are_bounded(client: httpx.Client):
    response = put_rules(client, [{"name": "n" * 1_000_000, "bogus": 1, "reply": {"text": "x"}}])
    body = assert_envelope(response, 400, "invalid_request_error")
    assert body["error"]["message"].startswith("rule 1 ('nnn"), body["error"]["message"][:80]


# --- the worker process ---------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_the_validating_worker_ends_with_a_server_killed_outright(tmp_path: Path):
    served = Served(tmp_path / "serve.log", "--data-dir", str(tmp_path / "data")).wait_ready()
    try:
        big = message(messages=[{"role": "user", "content": "word " * 20_000}])  # 100 KB: validated by the worker
        assert httpx.post(f"{served.base_url}/v1/messages", json=big, headers=HEADERS, timeout=60).status_code == 200
        workers = children(served.proc.pid)
        assert workers, "no worker process"
        served.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
            time.sleep(0.2)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived its server"
    finally:
        served.stop()
