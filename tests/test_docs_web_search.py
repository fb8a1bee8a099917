"""docs/web-search.md is run as written.

As for docs/testing.md: a fenced block whose first line is ``# file: NAME``
(python or yaml) is the file NAME; those files are written into a fresh
directory and run by a fresh pytest, which finds the ``dateline`` fixture
through the installed plugin. Every Python block must compile, every YAML
block must be a rules file with a ``web:`` corpus, and the corpus reference
table must list exactly the fields a corpus accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dateline import script, web_corpus

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "web-search.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
FILE_MARK = re.compile(r"\A# file: (\S+)\n")


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


def files() -> dict[str, str]:
    out: dict[str, str] = {}
    for body in blocks("python") + blocks("yaml"):
        mark = FILE_MARK.match(body)
        if mark:
            out[mark.group(1)] = out.get(mark.group(1), "") + body
    return out


def test_the_page_has_the_example():
    assert {"research.py", "test_research.py", "web_rules.yaml"} <= set(files())


def test_the_example_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    written = files()
    for name, text in written.items():
        (pytester.path / name).write_text(text)
    expected = len(re.findall(r"^def test_", written["test_research.py"], re.MULTILINE))
    assert expected >= 7

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error:The model:DeprecationWarning")

    result.assert_outcomes(passed=expected)


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_blocks_compile(index: int):
    compile(blocks("python")[index], f"{DOC.name} python block {index + 1}", "exec")


@pytest.mark.parametrize("index", range(len(blocks("yaml"))))
def test_yaml_blocks_are_rules_files_with_a_corpus(index: int):
    loaded = script.loads(blocks("yaml")[index])
    assert loaded.web is not None and loaded.web.search and loaded.web.pages


def test_the_corpus_reference_lists_every_field():
    models = {
        "web": web_corpus.Corpus,
        "search": web_corpus.SearchRule,
        "result": web_corpus.Result,
        "page": web_corpus.Page,
    }
    listed: dict[str, set[str]] = {part: set() for part in models}
    for part, field in re.findall(r"^\| (web|search|result|page) \| `(\w+)` \|", DOC.read_text(), re.MULTILINE):
        listed[part].add(field)
    assert listed == {part: set(model.model_fields) for part, model in models.items()}
