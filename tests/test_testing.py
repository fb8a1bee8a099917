"""dateline.testing: the ``dateline`` fixture and ``DatelineServer``, used as a
test suite uses them, through the official SDK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from dateline.script import ScriptError
from dateline.testing import DatelineServer

pytest_plugins = ["pytester"]

MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def sdk(dateline: DatelineServer) -> Iterator[anthropic.Anthropic]:
    """No retries, so each call is one request."""
    with anthropic.Anthropic(base_url=dateline.base_url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


def say(client: anthropic.Anthropic, text: str = "Hi", **params) -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": text}], **params)


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


# -- the fixture -------------------------------------------------------------------------------


def test_each_test_starts_clean(dateline: DatelineServer):
    assert dateline.requests() == []
    assert dateline.state.scripter.script.rules == []


def test_one_fixture_then_the_sdk(dateline: DatelineServer):
    client = anthropic.Anthropic(base_url=dateline.base_url, api_key="sk-ant-anything")
    assert text_of(say(client))  # the built-in model answers
    (entry,) = dateline.requests()
    assert entry["path"] == "/v1/messages"
    assert entry["status"] == 200
    assert entry["body"]["messages"] == HI
    assert entry["rule"] is None
    assert dateline.base_url.startswith("http://127.0.0.1:")
    assert repr(dateline) == f"<DatelineServer {dateline.base_url}>"


# -- script() ----------------------------------------------------------------------------------


def test_script_rule_dicts(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.script(
        [
            {"name": "greeting", "match": {"last_user": "^Hello"}, "reply": {"text": "Hello to you."}},
            {"replies": [{"text": "first"}, {"text": "then this"}]},
        ]
    )
    assert text_of(say(sdk, "Hello there")) == "Hello to you."
    assert [text_of(say(sdk)) for _ in range(3)] == ["first", "then this", "then this"]
    assert [r["rule"] for r in dateline.requests()] == [
        {"index": 0, "name": "greeting"},
        {"index": 1, "name": None},
        {"index": 1, "name": None},
        {"index": 1, "name": None},
    ]


RULES_YAML = """\
- match: {model: "claude-sonnet-*"}
  reply:
    tool_use:
      - {name: get_weather, input: {city: Oslo}}
"""


@pytest.mark.parametrize(
    "rules",
    [
        RULES_YAML,
        RULES_YAML.encode(),
        json.dumps(
            [
                {
                    "match": {"model": "claude-sonnet-*"},
                    "reply": {"tool_use": [{"name": "get_weather", "input": {"city": "Oslo"}}]},
                }
            ]
        ),
        {"rules": [{"reply": {"tool_use": [{"name": "get_weather", "input": {"city": "Oslo"}}]}}]},
        ({"reply": {"tool_use": [{"name": "get_weather", "input": {"city": "Oslo"}}]}},),
    ],
    ids=["yaml", "yaml-bytes", "json", "mapping", "tuple"],
)
def test_script_text_and_data(dateline: DatelineServer, sdk: anthropic.Anthropic, rules):
    dateline.script(rules)
    message = say(sdk)
    assert message.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in message.content if b.type == "tool_use"] == [("get_weather", {"city": "Oslo"})]


def test_script_a_rules_file(dateline: DatelineServer, sdk: anthropic.Anthropic, tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text("- reply: {text: From the file.}\n")
    dateline.script(path)
    assert text_of(say(sdk)) == "From the file."


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"reply": {"text": "ok"}}, {"name": "bad", "reply": {"txt": "typo"}}], "rule 2 ('bad'), field 'reply.txt'"),
        ([{"match": {"last_user": "("}, "reply": {"text": "x"}}], "invalid regular expression"),
        ([{"match": {"model": "x"}}], "a rule needs a reply, replies or a fault"),
        ([{"reply": {"text": "x"}, "times": 0}], "field 'times'"),
        ("- reply: {text: [unclosed\n", "not valid YAML"),
        ("rules.yaml", "pass a pathlib.Path"),
        (42, "a rules file is a list of rules"),
    ],
)
def test_script_refuses_bad_rules(dateline: DatelineServer, sdk: anthropic.Anthropic, rules, message: str):
    dateline.script([{"reply": {"text": "kept"}}])
    with pytest.raises(ScriptError, match=re.escape(message)):
        dateline.script(rules)
    assert text_of(say(sdk)) == "kept"  # the rules in place stay


# -- fail() ------------------------------------------------------------------------------------


def test_fail_goes_ahead_of_the_rules(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.script([{"reply": {"text": "scripted"}}])
    dateline.fail("overloaded_error", times=2)
    for _ in range(2):
        with pytest.raises(anthropic.OverloadedError):
            say(sdk)
    assert text_of(say(sdk)) == "scripted"
    assert [r["status"] for r in dateline.requests()] == [529, 529, 200]
    assert dateline.requests()[0]["rule"] == {"index": 0, "name": "fail overloaded_error"}


def test_fail_once_by_default_and_the_sdk_retries(dateline: DatelineServer):
    dateline.fail("rate_limit_error", retry_after=0.01)
    dateline.fail(retry_after=0.01)  # overloaded_error, ahead of the rate limit
    client = anthropic.Anthropic(base_url=dateline.base_url, api_key="sk-ant-test")
    assert text_of(say(client))
    assert [r["status"] for r in dateline.requests()] == [529, 429, 200]


def test_fail_every_time(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.fail("api_error", times=None, message="down for maintenance")
    for _ in range(3):
        with pytest.raises(anthropic.InternalServerError) as excinfo:
            say(sdk)
        assert excinfo.value.body["error"] == {"type": "api_error", "message": "down for maintenance"}


def test_fail_only_what_matches(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.fail("overloaded_error", times=None, match={"model": "claude-opus-*"})
    with pytest.raises(anthropic.OverloadedError):
        sdk.messages.create(model="claude-opus-4-8", max_tokens=16, messages=HI)
    assert text_of(say(sdk))  # another model gets through


def test_fail_with_retry_after(dateline: DatelineServer):
    dateline.fail("rate_limit_error", retry_after=7)
    with httpx.Client(base_url=dateline.base_url) as http:
        response = http.post(
            "/v1/messages",
            headers={"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"},
            json={"model": MODEL, "max_tokens": 16, "messages": HI},
        )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_fail_a_stream_after_some_events(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.script([{"reply": {"text": "one two three four five six seven"}}])
    dateline.fail("overloaded_error", after_events=3)
    seen = []
    with (
        pytest.raises(anthropic.APIStatusError) as excinfo,
        sdk.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream,
    ):
        seen.extend(stream.text_stream)
    assert excinfo.value.body["error"]["type"] == "overloaded_error"
    assert seen  # text came before the break
    assert len(dateline.requests()) == 1
    assert text_of(say(sdk)) == "one two three four five six seven"  # once only


def test_fail_keeps_the_place_of_the_rules_already_there(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.script([{"replies": [{"text": "first"}, {"text": "second"}]}])
    assert text_of(say(sdk)) == "first"
    dateline.fail("overloaded_error")
    with pytest.raises(anthropic.OverloadedError):
        say(sdk)
    assert text_of(say(sdk)) == "second"  # not "first" again


def test_a_spent_fail_stays_spent(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.fail("overloaded_error")
    with pytest.raises(anthropic.OverloadedError):
        say(sdk)
    dateline.fail("rate_limit_error")
    with pytest.raises(anthropic.RateLimitError):
        say(sdk)
    assert text_of(say(sdk))  # neither fires again
    assert [r["status"] for r in dateline.requests()] == [529, 429, 200]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.fail("overloaded"), "fail('overloaded'): field 'fault.error'"),
        (lambda d: d.fail(times=0), "fail('overloaded_error'): field 'times'"),
        (lambda d: d.fail(match={"modle": "x"}), "field 'match.modle'"),
        (lambda d: d.fail(retry_after=-1), "field 'fault.retry_after'"),
        (lambda d: d.fail(None, after_events=2), "after_events needs an error"),
        (lambda d: d.fail(delay=1), "field 'fault.delay'"),
    ],
)
def test_fail_refuses_bad_faults(dateline: DatelineServer, call, message: str):
    with pytest.raises(ScriptError, match=re.escape(message)):
        call(dateline)
    assert dateline.state.scripter.script.rules == []


# -- requests() and reset() --------------------------------------------------------------------


def test_requests_by_path(dateline: DatelineServer, sdk: anthropic.Anthropic):
    sdk.messages.count_tokens(model=MODEL, messages=HI)
    say(sdk)
    sdk.models.list()  # not a scripted endpoint: not logged
    assert [r["path"] for r in dateline.requests()] == ["/v1/messages/count_tokens", "/v1/messages"]
    (entry,) = dateline.requests("/v1/messages")
    assert entry["body"]["max_tokens"] == 64
    assert entry["api_key"] == "[redacted]"  # "sk-ant-test": too short to show its last characters
    assert entry["headers"]["anthropic-version"]
    assert entry["method"] == "POST"
    assert dateline.requests("/v1/complete") == []


def test_reset(dateline: DatelineServer, sdk: anthropic.Anthropic):
    dateline.script([{"reply": {"text": "scripted"}}])
    dateline.fail()
    with pytest.raises(anthropic.OverloadedError):
        say(sdk)
    dateline.reset()
    assert dateline.requests() == []
    assert text_of(say(sdk)) != "scripted"


# -- DatelineServer ----------------------------------------------------------------------------


def test_context_manager():
    with DatelineServer() as server:
        server.script([{"reply": {"text": "Hello from a context manager."}}])
        with anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0) as client:
            assert text_of(say(client)) == "Hello from a context manager."
        assert len(server.requests()) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/v1/models", timeout=2)


def test_two_servers_are_independent():
    with DatelineServer() as one, DatelineServer() as two:
        assert one.port != two.port
        one.script([{"reply": {"text": "one"}}])
        with anthropic.Anthropic(base_url=two.base_url, api_key="k", max_retries=0) as client:
            assert text_of(say(client)) != "one"
        assert one.requests() == [] and len(two.requests()) == 1


def test_options_and_starting_rules(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("- replies: [{text: first}, {text: second}]\n")
    with DatelineServer(api_keys=["sk-only"], script=str(rules)) as server:
        with (
            anthropic.Anthropic(base_url=server.base_url, api_key="sk-other", max_retries=0) as client,
            pytest.raises(anthropic.AuthenticationError),
        ):
            say(client)
        with anthropic.Anthropic(base_url=server.base_url, api_key="sk-only", max_retries=0) as client:
            assert [text_of(say(client)) for _ in range(2)] == ["first", "second"]
            server.script([{"reply": {"text": "other"}}])
            server.reset()  # back to the starting rules, from their first reply
            assert text_of(say(client)) == "first"
            assert len(server.requests()) == 1


def test_the_environment_is_not_read(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATELINE_API_KEYS", '["sk-only"]')
    monkeypatch.setenv("DATELINE_REQUEST_LOG_SIZE", "0")
    server = DatelineServer()
    try:
        assert server.settings.api_keys == [] and server.settings.request_log_size == 1000
    finally:
        server.stop()


def test_usable_without_pytest(tmp_path: Path):
    program = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # as if pytest were not installed
        import httpx
        from dateline.testing import DatelineServer

        with DatelineServer() as server:
            server.script([{"reply": {"text": "no pytest here"}}])
            response = httpx.post(
                server.base_url + "/v1/messages",
                headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                json={"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]},
            )
            print(response.json()["content"][0]["text"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no pytest here"


# -- the plugin, in a fresh pytest -------------------------------------------------------------


def test_plugin_loads_from_its_entry_point(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """No conftest, no -p: the installed plugin gives the fixtures; each test starts clean,
    and a conftest can start the session's server with options."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    client = """
        import anthropic

        def ask(dateline, text="Hi", key="sk-ant-test"):
            client = anthropic.Anthropic(base_url=dateline.base_url, api_key=key, max_retries=0)
            message = client.messages.create(
                model="claude-sonnet-4-6", max_tokens=32, messages=[{"role": "user", "content": text}]
            )
            return "".join(b.text for b in message.content if b.type == "text")
    """
    pytester.makepyfile(
        **{
            "plain/test_plain.py": textwrap.dedent(client)
            + textwrap.dedent(
                """
                def test_one(dateline):
                    dateline.script([{"reply": {"text": "scripted"}}])
                    dateline.fail("overloaded_error", times=5)
                    try:
                        ask(dateline)
                    except anthropic.OverloadedError:
                        pass
                    assert len(dateline.requests()) == 1

                def test_two(dateline, dateline_server):
                    assert dateline is dateline_server
                    assert dateline.requests() == []
                    assert ask(dateline) != "scripted"
                """
            ),
            "configured/conftest.py": textwrap.dedent(
                """
                import pathlib
                import pytest
                from dateline.testing import DatelineServer

                @pytest.fixture(scope="session")
                def dateline_server():
                    rules = pathlib.Path(__file__).with_name("rules.yaml")
                    with DatelineServer(api_keys=["sk-only"], script=str(rules)) as server:
                        yield server
                """
            ),
            "configured/test_configured.py": textwrap.dedent(client)
            + textwrap.dedent(
                """
                import pytest

                def test_three(dateline):
                    assert ask(dateline, key="sk-only") == "from the rules file"
                    dateline.script([{"reply": {"text": "changed"}}])

                def test_four(dateline):
                    with pytest.raises(anthropic.AuthenticationError):
                        ask(dateline)
                    assert ask(dateline, key="sk-only") == "from the rules file"
                """
            ),
        }
    )
    (pytester.path / "configured" / "rules.yaml").write_text("- reply: {text: from the rules file}\n")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")

    result.assert_outcomes(passed=4)
