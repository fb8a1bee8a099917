"""docs/testing.md is run as written.

Conventions in the page: a ```python block whose first line is
``# file: NAME`` is (part of) the file NAME; blocks naming the same file are
joined in order. Those files are written into a fresh directory and run by a
fresh pytest, which finds the ``dateline`` fixture through the installed
plugin, as a user's would. Every other Python block must compile, every YAML
block must be a valid rules file, the rules reference table must list exactly
the fields the rules accept, and the curl examples must work against a server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dateline import script
from dateline.testing import DatelineServer

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
FILE_MARK = re.compile(r"\A# file: (\S+)\n")


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


def files() -> dict[str, str]:
    out: dict[str, str] = {}
    for body in blocks("python"):
        mark = FILE_MARK.match(body)
        if mark:
            name = mark.group(1)
            out[name] = out.get(name, "") + ("\n\n" if name in out else "") + body
    return out


def test_the_page_has_the_example():
    assert {"weather_agent.py", "test_weather_agent.py"} <= set(files())
    assert blocks("yaml")


def test_the_example_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    written = files()
    for name, text in written.items():
        (pytester.path / name).write_text(text)
    expected = sum(len(re.findall(r"^\s*def test_", text, re.MULTILINE)) for text in written.values())
    assert expected >= 9

    # A model the SDK calls deprecated would make the example warn: the page should not use one.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error:The model:DeprecationWarning")

    result.assert_outcomes(passed=expected)


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_blocks_compile(index: int):
    compile(blocks("python")[index], f"{DOC.name} python block {index + 1}", "exec")


@pytest.mark.parametrize("index", range(len(blocks("yaml"))))
def test_yaml_blocks_are_rules_files(index: int):
    loaded = script.loads(blocks("yaml")[index])
    assert loaded.rules


def test_the_rules_reference_lists_every_field():
    models = {"rule": script.Rule, "match": script.Match, "reply": script.Reply, "fault": script.Fault}
    listed: dict[str, set[str]] = {part: set() for part in models}
    for part, field in re.findall(r"^\| (rule|match|reply|fault) \| `(\w+)` \|", DOC.read_text(), re.MULTILINE):
        listed[part].add(field)
    assert listed == {part: set(model.model_fields) for part, model in models.items()}


def curl_blocks() -> list[str]:
    return [body for body in blocks("bash") if body.lstrip().startswith("curl") or "\ncurl " in body]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
@pytest.mark.parametrize("index", range(len(curl_blocks())))
def test_curl_examples(index: int, tmp_path: Path):
    rules = blocks("yaml")[0]
    (tmp_path / "rules.yaml").write_text(rules)
    body = curl_blocks()[index]
    with DatelineServer() as server:
        shell = body.replace("http://127.0.0.1:8000", server.base_url)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", shell],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        if "dateline-fault" in body:
            assert '"type":"overloaded_error"' in done.stdout
        else:
            assert '"type":"error"' not in done.stdout
        if "/_dateline/rules" in body:
            # The rules file went in and came back out.
            assert '"name":"weather in Paris"' in done.stdout
            assert server.state.scripter.script.rules == []  # and the last command cleared them
