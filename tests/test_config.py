"""The upstream configuration file: what it accepts, and how it says no."""

from __future__ import annotations

from pathlib import Path

import pytest

from dateline.config import ConfigError, load, one_upstream, parse

GOOD = """
cooldown = 5

[upstreams.local]
kind = "openai"
base_url = "http://127.0.0.1:8080/v1"
api_key_env = "DATELINE_TEST_LOCAL_KEY"
timeout = 30

[upstreams.backup]
kind = "openai"
base_url = "http://127.0.0.1:8081/v1"
api_key = "sk-backup"

[models."claude-sonnet-4-5"]
upstreams = ["local", "backup"]
upstream_model = {local = "qwen2.5", backup = "llama3"}

[models."my-model"]
upstreams = ["local"]
display_name = "My model"
max_tokens = 4096

[default]
upstreams = ["backup"]
"""


def test_a_full_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATELINE_TEST_LOCAL_KEY", "sk-from-env")
    path = tmp_path / "dateline.toml"
    path.write_text(GOOD)
    config = load(path)
    assert config.cooldown == 5
    local = config.upstream("local")
    assert (local.kind, local.base_url, local.api_key, local.timeout) == (
        "openai", "http://127.0.0.1:8080/v1", "sk-from-env", 30
    )
    assert config.upstream("backup").api_key == "sk-backup"
    route = config.models["claude-sonnet-4-5"]
    assert [route.model_at(u, "claude-sonnet-4-5") for u in route.upstreams] == ["qwen2.5", "llama3"]
    # Without a mapping, the upstream is asked for the model by the requested id.
    assert config.models["my-model"].model_at("local", "my-model") == "my-model"
    assert config.default is not None and config.default.model_at("backup", "anything") == "anything"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models."m"]\nupstreams = ["nope"]\n', "models.'m': no upstream named 'nope'"),
        ("[default]\nupstreams = []\n", "default.upstreams: List should have at least 1 item after validation, not 0"),
        ('[upstreams.a]\nkind = "grpc"\nbase_url = "x"\n', "upstreams.a.kind: Input should be 'openai' or 'anthropic'"),
        ('[upstreams.a]\nkind = "openai"\n', "upstreams.a.base_url: Field required"),
        ('[upstreams.a]\nkind = "openai"\nbase_url = "x"\ntimeout = 0\n', "upstreams.a.timeout: Input should be greater than 0"),
        ("colour = 1\n", "colour: Extra inputs are not permitted"),
        (
            '[upstreams.a]\nkind = "anthropic"\nbase_url = "x"\nversion = "2024-01-01"\n',
            "upstreams.a.version: unknown API version '2024-01-01'; known: 2026-10-21, 2023-06-01, 2023-01-01",
        ),
        (
            '[upstreams.a]\nkind = "openai"\nbase_url = "x"\n[upstreams.b]\nkind = "anthropic"\nbase_url = "y"\n'
            '[default]\nupstreams = ["a", "b"]\n',
            "default: its upstreams must all be of one kind",
        ),
        (
            '[upstreams.a]\nkind = "openai"\nbase_url = "x"\n[default]\nupstreams = ["a"]\nupstream_model = {b = "m"}\n',
            "default.upstream_model: 'b' is not one of its upstreams",
        ),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load(path)
    assert str(refused.value) == f"{path}: {message}"


def test_unreadable_and_malformed_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)


def test_one_flag_upstreams_serve_every_model():
    config = one_upstream("openai", "http://127.0.0.1:9/v1", "sk-x", 12)
    assert config.default is not None and config.default.upstreams == ["openai"]
    up = config.upstream("openai")
    assert (up.kind, up.base_url, up.api_key, up.timeout) == ("openai", "http://127.0.0.1:9/v1", "sk-x", 12)
    assert parse({"upstreams": {}}).default is None


def test_serve_refuses_a_bad_configuration_plainly(tmp_path: Path):
    from typer.testing import CliRunner

    from dateline.cli import app

    path = tmp_path / "bad.toml"
    path.write_text('[models."m"]\nupstreams = ["nope"]\n')
    result = CliRunner().invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 2
    assert f"dateline: {path}: models.'m': no upstream named 'nope'" in result.output
    both = CliRunner().invoke(app, ["serve", "--openai-upstream", "http://x/v1", "--anthropic-upstream", "http://y"])
    assert both.exit_code == 2 and "give one of --config, --openai-upstream and --anthropic-upstream" in both.output
