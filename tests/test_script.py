"""Rules: loading them (YAML and JSON, ``dateline serve --script``, the admin
API), refusing bad ones by rule and field, and what each match kind selects.

Every match test runs over real HTTP with the official SDK (strict response
validation): a scripted reply is told from the built-in model's by its text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml
from conftest import ServerThread, free_port

from dateline import script
from dateline.script import Scripter, ScriptError

MODEL = "claude-sonnet-4-5"

RULES: list[dict[str, Any]] = [
    {"name": "weather", "match": {"last_user": r"(?i)weather in \w+"}, "reply": {"text": "Sunny, 21 degrees."}},
    {"name": "legacy", "match": {"endpoint": "complete"}, "reply": {"text": "An old-style answer."}},
]


def sdk(base_url: str, api_key: str = "sk-ant-test", **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=30, _strict_response_validation=True, **kwargs
    )


@pytest.fixture(scope="module")
def base_url(served: ServerThread) -> str:
    """This module's tests (and the shared ``client``/``http`` fixtures) talk to its own server."""
    return served.base_url


def ask(client: anthropic.Anthropic, text: str = "Hello there", **params: Any) -> str:
    """The text of the reply to one user message."""
    params = {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": text}], **params}
    message = client.messages.create(**params)
    return "".join(b.text for b in message.content if b.type == "text")


def complete(client: anthropic.Anthropic) -> dict[str, Any]:
    """A legacy Text Completion, through the SDK's generic ``post`` (it has no completions resource)."""
    body = {"model": "claude-2.1", "max_tokens_to_sample": 50, "prompt": "\n\nHuman: Hi\n\nAssistant:"}
    return client.post("/v1/complete", body=body, cast_to=object)


# --- loading ------------------------------------------------------------------------------


def test_yaml_and_json_files_give_the_same_rules(tmp_path: Path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(RULES))
    (tmp_path / "rules.json").write_text(json.dumps({"rules": RULES}))
    from_yaml, from_json = script.load(tmp_path / "rules.yaml"), script.load(tmp_path / "rules.json")
    assert from_yaml == from_json
    assert [r.name for r in from_yaml.rules] == ["weather", "legacy"]
    assert from_yaml.rules[0].reply.text == "Sunny, 21 degrees."
    # YAML is the default reading for other names (it reads JSON too).
    (tmp_path / "rules").write_text(json.dumps(RULES))
    assert script.load(tmp_path / "rules") == from_yaml


def test_an_empty_rules_file_has_no_rules(tmp_path: Path):
    (tmp_path / "empty.yaml").write_text("")
    assert script.load(tmp_path / "empty.yaml").rules == []


BAD_RULES = [
    # (rules, what the message must say)
    (
        [{"name": "ok", "reply": {"text": "x"}}, {"name": "greet", "match": {"endpoint": "chat"}, "reply": {"text": "x"}}],
        ["rule 2 ('greet')", "field 'match.endpoint'", "'messages'"],
    ),
    ([{"name": "t", "reply": {"tool_use": [{"input": {}}]}}], ["rule 1 ('t')", "field 'reply.tool_use.0.name'", "required"]),
    ([{"name": "re", "match": {"last_user": "(unclosed"}, "reply": {"text": "x"}}], ["rule 1 ('re')", "match.last_user", "regular expression"]),
    ([{"name": "h", "match": {"headers": {"X-Case": "[a-"}}, "reply": {"text": "x"}}], ["rule 1 ('h')", "match.headers", "X-Case"]),
    ([{"name": "seq", "replies": [{"text": "a"}, {"txt": "b"}]}], ["rule 1 ('seq')", "field 'replies.1.txt'", "Extra inputs"]),
    ([{"name": "f", "fault": {"error": "broken_error"}}], ["rule 1 ('f')", "field 'fault.error'", "overloaded_error"]),
    ([{"name": "f", "fault": {"after_events": 2}}], ["rule 1 ('f')", "field 'fault'", "after_events needs an error"]),
    ([{"name": "n", "reply": {"text": "a"}, "times": 0}], ["rule 1 ('n')", "field 'times'", "greater than or equal to 1"]),
    ([{"name": "both", "reply": {"text": "a"}, "replies": [{"text": "b"}]}], ["rule 1 ('both')", "either reply or replies"]),
    ([{"reply": {"text": "a"}}, {"match": {"model": "x"}}], ["rule 2:", "needs a reply, replies or a fault"]),
    ([{"name": "s", "reply": {"stop_reason": "done"}}], ["rule 1 ('s')", "field 'reply.stop_reason'", "end_turn"]),
    ([{"name": "r", "reply": {"stop_reason": "end_turn", "stop_details": {}}}], ["rule 1 ('r')", "field 'reply'", "stop_details go with stop_reason refusal"]),
    ([{"name": "c", "reply": {"stop_details": {"category": "weapons"}}}], ["rule 1 ('c')", "field 'reply.stop_details.category'", "'cyber'"]),
    ([{"name": "t", "reply": {"stop_details": {"type": "pause"}}}], ["rule 1 ('t')", "field 'reply.stop_details.type'", "'refusal'"]),
    ([{"name": "u", "reply": {"usage": {"output_tokens": -1}}}], ["rule 1 ('u')", "field 'reply.usage.output_tokens'"]),
    ([{"name": "d", "fault": {"first_token_delay": "inf"}}], ["rule 1 ('d')", "field 'fault.first_token_delay'", "finite"]),
    ([{"name": "x", "reply": {"text": "a"}, "unknown": 1}], ["rule 1 ('x')", "field 'unknown'", "Extra inputs"]),
    ([{"name": "tools", "match": {"tools": "get_weather"}, "reply": {"text": "a"}}], ["rule 1 ('tools')", "field 'match.tools'"]),
    (["just a string"], ["rule 1:", "valid dictionary"]),
]


@pytest.mark.parametrize(("rules", "expected"), BAD_RULES)
def test_bad_rules_are_named_by_rule_and_field(rules, expected):
    with pytest.raises(ScriptError) as caught:
        script.parse(rules)
    for part in expected:
        assert part in str(caught.value)


@pytest.mark.parametrize("text", ["hello", "42", "{rules: 5}"])
def test_a_rules_file_that_is_not_a_list_says_what_it_should_be(text):
    with pytest.raises(ScriptError) as caught:
        script.loads(text)
    message = str(caught.value)
    assert "rules" in message and not message.startswith(":")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: bin\n  reply: {tool_use: [{name: f, input: {data: !!binary aGk=}}]}\n", ["rule 1 ('bin')", "field 'reply.tool_use.0.input'", "not JSON"]),
        ("- name: big\n  reply: {tool_use: [{name: f, input: {n: 123456789012345678901234567890}}]}\n", ["rule 1 ('big')", "field 'reply.tool_use.0.input'"]),
        ("- name: many\n  reply: {usage: {input_tokens: 99999999999999999999}}\n", ["rule 1 ('many')", "field 'reply.usage.input_tokens'"]),
        ("- name: 2024-01-01\n  reply: {text: x}\n", ["rule 1 ('2024-01-01')", "field 'name'"]),
    ],
)
def test_yaml_values_json_cannot_carry_are_refused_at_load(text: str, expected: list[str]):
    with pytest.raises(ScriptError) as caught:
        script.loads(text)
    for part in expected:
        assert part in str(caught.value)


def test_tool_input_is_kept_as_the_client_reads_it():
    loaded = script.loads("- reply: {tool_use: [{name: f, input: {when: 2024-01-01, n: [1, 2.5]}}]}\n")
    assert loaded.rules[0].reply.tool_use[0].input == {"when": "2024-01-01", "n": [1, 2.5]}


def test_unparsable_files_say_which_syntax(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("- name: [unclosed\n")
    (tmp_path / "bad.json").write_text('[{"name": "x",]')
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00rules")
    with pytest.raises(ScriptError, match="not valid YAML"):
        script.load(tmp_path / "bad.yaml")
    with pytest.raises(ScriptError, match="not valid JSON"):
        script.load(tmp_path / "bad.json")
    with pytest.raises(ScriptError, match="not UTF-8"):
        script.load(tmp_path / "binary.yaml")


def bomb(levels: int, fanout: int = 9) -> str:
    """YAML whose last alias stands for ``fanout ** levels`` strings."""
    lines = [f"- &a0 [{', '.join(['x'] * fanout)}]"]
    lines += [f"- &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_aliases_that_repeat_too_much_are_refused_before_anything_is_built():
    started = time.monotonic()
    with pytest.raises(ScriptError, match=f"aliases repeat more than {script.MAX_ALIASED_NODES} nodes"):
        script.loads(bomb(12))  # 9**12 strings in 350 bytes
    assert time.monotonic() - started < 1


def test_aliases_within_the_bound_load():
    loaded = script.loads("- match: {last_user: sun}\n  reply: &r {text: Sunny.}\n- match: {last_user: rain}\n  reply: *r\n")
    assert [r.reply.text for r in loaded.rules] == ["Sunny.", "Sunny."]
    with pytest.raises(ScriptError, match="rule 1: Input should be a valid dictionary"):
        script.loads(bomb(3))  # 9**3 nodes repeated: within the bound, then refused for what it is


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(ScriptError, match="refers to a node that contains it"):
        script.loads("- &a [x, *a]\n")


def test_a_long_rule_name_is_cut_in_the_message():
    with pytest.raises(ScriptError) as caught:
        script.parse([{"name": "n" * 100_000, "reply": {"text": "x"}, "bogus": 1}])
    assert str(caught.value) == f"rule 1 ('{'n' * 80}…'), field 'bogus': Extra inputs are not permitted"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(r"(\w)\1", "invalid escape sequence"), ("(?=a)b", "invalid perl operator"), ("(?<!a)b", "invalid perl operator")],
)
def test_patterns_the_linear_time_engine_cannot_run_are_refused(pattern: str, reason: str):
    with pytest.raises(ScriptError) as caught:
        script.parse([{"name": "p", "match": {"last_user": pattern}, "reply": {"text": "x"}}])
    assert "rule 1 ('p'), field 'match.last_user'" in str(caught.value)
    assert "linear-time engine" in str(caught.value) and reason in str(caught.value)


def test_rule_regexes_match_in_linear_time():
    rule = script.parse([{"match": {"last_user": "^(a+)+$", "headers": {"x-case": "^(b|bb)+$"}}, "reply": {"text": "x"}}])
    match = rule.rules[0].match
    started = time.monotonic()
    for text in ("a" * 5_000 + "!", "a" * 100_000 + "!"):  # backtracking took 2**n steps
        request = script.Request.of("messages", {"messages": [{"role": "user", "content": text}]}, {"x-case": "b" * 60 + "c"}, None)
        assert not script.matches(match, request)
    assert time.monotonic() - started < 1
    request = script.Request.of("messages", {"messages": [{"role": "user", "content": "aaa"}]}, {"x-case": "bbb"}, None)
    assert script.matches(match, request)


# --- dateline serve --script ----------------------------------------------------------------


def clean_env() -> dict[str, str]:
    dropped = ("DATELINE_", "ANTHROPIC_", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def dateline(*args: str, **kwargs: Any) -> list[str]:
    command = shutil.which("dateline")
    assert command is not None, "the `dateline` console script is not installed"
    return [command, *args]


@pytest.fixture
def serve(tmp_path: Path):
    """Start ``dateline serve`` with flags; wait until it answers; stop it at the end."""
    started: list[subprocess.Popen] = []

    def run(*args: str) -> str:
        port = free_port()
        log = (tmp_path / f"serve-{port}.log").open("wb")
        proc = subprocess.Popen(
            dateline("serve", "--port", str(port), *args), stdout=log, stderr=subprocess.STDOUT, env=clean_env()
        )
        started.append(proc)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            try:
                httpx.get(f"{base_url}/v1/models", timeout=2)
                return base_url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("dateline serve did not start")

    yield run
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_serve_script_answers_with_the_rules(serve, tmp_path: Path, suffix: str):
    path = tmp_path / f"rules{suffix}"
    path.write_text(yaml.safe_dump(RULES) if suffix == ".yaml" else json.dumps(RULES))
    base_url = serve("--script", str(path), "--admin-token", "secret", "--request-log-size", "5")
    with sdk(base_url) as client:
        assert ask(client, "What is the weather in Paris?") == "Sunny, 21 degrees."
        assert ask(client, "Tell me about tide pools") not in ("Sunny, 21 degrees.", "")
        assert complete(client)["completion"] == " An old-style answer."
    # --admin-token guards the admin API; --request-log-size bounds the log.
    assert httpx.get(f"{base_url}/_dateline/rules").status_code == 401
    guarded = {"x-dateline-admin-token": "secret"}
    described = httpx.get(f"{base_url}/_dateline/rules", headers=guarded).json()
    assert [(r["name"], r["hits"]) for r in described["rules"]] == [("weather", 1), ("legacy", 1)]
    with sdk(base_url) as client:
        for _ in range(5):
            ask(client)
    logged = httpx.get(f"{base_url}/_dateline/requests", headers=guarded).json()["data"]
    assert len(logged) == 5


BAD_FILES = [
    (
        "rules.yaml",
        "- name: fine\n  reply: {text: hi}\n- name: greet\n  match: {endpoint: chat}\n  reply: {text: hi}\n",
        ["rule 2 ('greet')", "field 'match.endpoint'"],
    ),
    ("rules.json", '[{"name": "slow", "fault": {"token_delay": -1}}]', ["rule 1 ('slow')", "field 'fault.token_delay'"]),
    ("broken.yaml", "- name: [unclosed\n", ["not valid YAML"]),
    ("missing.yaml", None, ["No such file"]),
]


def test_serve_refuses_a_bad_rules_file(tmp_path: Path):
    # One process per file, all at once: each takes a while to start.
    running = []
    for name, text, expected in BAD_FILES:
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        proc = subprocess.Popen(
            dateline("serve", "--port", str(free_port()), "--script", str(path)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
        )
        running.append((proc, path, expected))
    for proc, path, expected in running:
        try:
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 2, stderr
        assert stderr.startswith(f"dateline: {path}: ")
        for part in expected:
            assert part in stderr
        assert "Traceback" not in stderr + stdout


# --- loading at run time --------------------------------------------------------------------


def test_rules_load_at_run_time_as_yaml_or_json(admin: httpx.Client, client: anthropic.Anthropic):
    assert ask(client, "weather in Oslo?") != "Sunny, 21 degrees."
    response = admin.put("/_dateline/rules", content=yaml.safe_dump(RULES), headers={"content-type": "application/yaml"})
    assert response.status_code == 200, response.text
    assert ask(client, "weather in Oslo?") == "Sunny, 21 degrees."
    changed = [{"name": "json", "match": {"last_user": "Oslo"}, "reply": {"text": "From JSON."}}]
    response = admin.put("/_dateline/rules", content=json.dumps(changed), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert ask(client, "weather in Oslo?") == "From JSON."
    assert admin.delete("/_dateline/rules").status_code == 200
    assert ask(client, "weather in Oslo?") not in ("From JSON.", "Sunny, 21 degrees.")


def test_a_bad_rules_file_over_the_admin_api_keeps_the_old_rules(admin: httpx.Client, rules, client):
    rules(RULES)
    bad = "- name: good\n  reply: {text: x}\n- name: broken\n  match: {model: 5}\n  reply: {text: y}\n"
    response = admin.put("/_dateline/rules", content=bad, headers={"content-type": "application/yaml"})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "rule 2 ('broken')" in body["error"]["message"] and "field 'match.model'" in body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]
    assert ask(client, "weather in Rome") == "Sunny, 21 degrees."


# --- what each match kind selects -------------------------------------------------------------


def test_endpoint(rules, client: anthropic.Anthropic):
    rules([
        {"match": {"endpoint": "count_tokens"}, "reply": {"text": "x", "usage": {"input_tokens": 7}}},
        {"match": {"endpoint": "complete"}, "reply": {"text": "Completed."}},
        {"match": {"endpoint": "messages"}, "reply": {"text": "Messaged."}},
    ])
    assert ask(client) == "Messaged."
    assert complete(client)["completion"] == " Completed."
    count = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hello there"}])
    assert count.input_tokens == 7


@pytest.mark.parametrize(
    ("pattern", "model", "hit"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5", True),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", False),
        ("claude-sonnet-*", "claude-sonnet-4-5-20250929", True),
        ("claude-*-4-?", "claude-opus-4-5", True),
        ("claude-3-*", "claude-sonnet-4-5", False),
    ],
)
def test_model_exact_and_glob(rules, client, pattern: str, model: str, hit: bool):
    rules([{"match": {"model": pattern}, "reply": {"text": "Scripted."}}])
    assert (ask(client, model=model) == "Scripted.") is hit


def test_regex_is_searched_in_the_last_user_turn_only(rules, client):
    rules([{"match": {"last_user": r"(?i)\bweather in (paris|rome)\b"}, "reply": {"text": "Scripted."}}])
    assert ask(client, "What's the WEATHER in Paris today?") == "Scripted."
    assert ask(client, "What's the weather in Lima today?") != "Scripted."
    # An earlier user turn that matches does not count.
    history = [
        {"role": "user", "content": "weather in Rome?"},
        {"role": "assistant", "content": "Mild."},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]
    message = client.messages.create(model=MODEL, max_tokens=100, messages=history)
    assert message.content[0].text != "Scripted."
    history[-1]["content"] = [{"type": "text", "text": "and the weather in rome"}]
    message = client.messages.create(model=MODEL, max_tokens=100, messages=history)
    assert message.content[0].text == "Scripted."


def test_regex_sees_tool_results_of_the_last_user_turn(rules, client):
    rules([{"match": {"last_user": "18 degrees"}, "reply": {"text": "It is mild."}}])
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 degrees, cloudy"}]},
    ]
    message = client.messages.create(model=MODEL, max_tokens=100, messages=messages)
    assert message.content[0].text == "It is mild."


WEATHER = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}
TIME = {"name": "get_time", "description": "Time", "input_schema": {"type": "object", "properties": {}}}


def test_tools_offered(rules, client):
    rules([{"match": {"tools": ["get_weather", "get_time"]}, "reply": {"text": "Scripted."}}])
    assert ask(client, tools=[TIME, WEATHER]) == "Scripted."
    assert ask(client, tools=[WEATHER]) != "Scripted."  # every named tool must be offered
    assert ask(client) != "Scripted."


def test_metadata_user_id(rules, client):
    rules([{"match": {"user_id": "user-42"}, "reply": {"text": "Scripted."}}])
    assert ask(client, metadata={"user_id": "user-42"}) == "Scripted."
    assert ask(client, metadata={"user_id": "user-43"}) != "Scripted."
    assert ask(client) != "Scripted."


def test_request_header(rules, client):
    rules([{"match": {"headers": {"X-Test-Case": "^checkout-"}}, "reply": {"text": "Scripted."}}])
    assert ask(client, extra_headers={"x-test-case": "checkout-7"}) == "Scripted."
    assert ask(client, extra_headers={"x-test-case": "login-7"}) != "Scripted."
    assert ask(client) != "Scripted."


def test_api_key(rules, served: ServerThread):
    rules([{"match": {"api_key": "sk-ant-alice"}, "reply": {"text": "Hello Alice."}}])
    with sdk(served.base_url, api_key="sk-ant-alice") as alice, sdk(served.base_url, api_key="sk-ant-bob") as bob:
        assert ask(alice) == "Hello Alice."
        assert ask(bob) != "Hello Alice."
    # The key sent as a bearer token is the same key.
    with sdk(served.base_url, api_key=None, auth_token="sk-ant-alice") as bearer:
        assert ask(bearer) == "Hello Alice."


def test_every_given_field_must_hold(rules, client):
    rules([{"match": {"model": "claude-opus-*", "last_user": "poem"}, "reply": {"text": "Scripted."}}])
    assert ask(client, "a poem please", model="claude-opus-4-5") == "Scripted."
    assert ask(client, "a poem please") != "Scripted."
    assert ask(client, "an essay please", model="claude-opus-4-5") != "Scripted."


def test_rules_are_tried_in_order(rules, client):
    rules([
        {"name": "specific", "match": {"last_user": "Paris"}, "reply": {"text": "First."}},
        {"name": "catch-all", "reply": {"text": "Second."}},
    ])
    assert ask(client, "Paris?") == "First."
    assert ask(client, "Lima?") == "Second."


def test_unmatched_requests_fall_through_to_the_built_in_model(rules, client):
    built_in = ask(client, "Tell me about tide pools")
    rules([{"match": {"last_user": "weather"}, "reply": {"text": "Scripted."}}])
    assert ask(client, "Tell me about tide pools") == built_in
    assert built_in and built_in != "Scripted."


def test_replies_in_sequence_and_the_last_repeats(rules, client, admin):
    rules([{"name": "seq", "replies": [{"text": "One."}, {"text": "Two."}, {"text": "Three."}]}])
    assert [ask(client) for _ in range(5)] == ["One.", "Two.", "Three.", "Three.", "Three."]
    assert admin.get("/_dateline/rules").json()["rules"][0]["hits"] == 5


def test_times_limits_a_rule(rules, client, admin):
    rules([
        {"name": "twice", "reply": {"text": "Scripted."}, "times": 2},
        {"name": "then", "replies": [{"text": "A."}, {"text": "B."}], "times": 3},
    ])
    answers = [ask(client) for _ in range(6)]
    assert answers[:5] == ["Scripted.", "Scripted.", "A.", "B.", "B."]
    assert answers[5] not in ("Scripted.", "A.", "B.")  # both used up: the built-in model answers
    assert [r["hits"] for r in admin.get("/_dateline/rules").json()["rules"]] == [2, 3]


def test_loading_rules_resets_their_counts(rules, client):
    spec = [{"reply": {"text": "Once."}, "times": 1}]
    rules(spec)
    assert ask(client) == "Once."
    assert ask(client) != "Once."
    rules(spec)
    assert ask(client) == "Once."


def test_scripter_is_safe_under_concurrent_matches():
    # A `times` limit holds however many threads match at once.
    import concurrent.futures

    scripter = Scripter(script.parse([{"reply": {"text": "x"}, "times": 50}]))
    request = script.Request.of("messages", {"model": MODEL, "messages": []}, {}, None)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(lambda _: scripter.decide(request), range(200)))
    assert sum(d is not None for d in decisions) == 50
