"""Configuration: ``DATELINE_*`` variables are read, explicit values (the flags) win."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pydantic
import pytest
from conftest import free_port
from test_cli import Served, clean_env

from dateline import Settings

ENV = {
    "DATELINE_HOST": "0.0.0.0",
    "DATELINE_PORT": "9123",
    "DATELINE_API_KEYS": '["sk-a", "sk-b"]',
    "DATELINE_TOKEN_DELAY": "0.25",
    "DATELINE_SIGNING_KEY": "replica-key",
    "DATELINE_LOG_LEVEL": "warning",
    "DATELINE_WORKERS": "3",
}


@pytest.fixture
def env(monkeypatch) -> pytest.MonkeyPatch:
    for name in [*ENV, "DATELINE_SOMETHING_ELSE", "FORWARDED_ALLOW_IPS", "DATELINE_FORWARDED_ALLOW_IPS"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(env):
    settings = Settings()
    assert (settings.host, settings.port, settings.api_keys, settings.token_delay) == ("127.0.0.1", 8000, [], 0.0)
    assert (settings.signing_key, settings.log_level, settings.workers) == (None, "info", 1)  # None: the store's
    assert settings.accepted_keys is None  # any non-empty key


def test_every_variable_is_read(env):
    for name, value in ENV.items():
        env.setenv(name, value)
    settings = Settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == 9123
    assert settings.api_keys == ["sk-a", "sk-b"]
    assert settings.accepted_keys == frozenset({"sk-a", "sk-b"})
    assert settings.token_delay == 0.25
    assert settings.signing_key == "replica-key"
    assert settings.log_level == "warning"
    assert settings.workers == 3


def test_names_are_case_insensitive_and_unknown_ones_ignored(env):
    env.setenv("dateline_port", "9124")
    env.setenv("DATELINE_SOMETHING_ELSE", "x")
    assert Settings().port == 9124


def test_explicit_values_win(env):
    for name, value in ENV.items():
        env.setenv(name, value)
    # What `dateline serve --port 1 --api-key k --token-delay 0` passes.
    settings = Settings(port=1, api_keys=["k"], token_delay=0.0)
    assert (settings.port, settings.api_keys, settings.token_delay) == (1, ["k"], 0.0)
    assert settings.host == "0.0.0.0" and settings.workers == 3  # not given: still from the environment


def test_empty_variables_mean_unset(env):
    env.setenv("DATELINE_API_KEYS", "")
    env.setenv("DATELINE_PORT", "")
    settings = Settings()
    assert settings.api_keys == [] and settings.port == 8000


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATELINE_PORT", "eighty"), ("DATELINE_API_KEYS", "sk-a,sk-b"), ("DATELINE_TOKEN_DELAY", "slow"),
     ("DATELINE_WORKERS", "1.5")],
)
def test_bad_values_are_refused(env, name, value):
    env.setenv(name, value)
    with pytest.raises((pydantic.ValidationError, ValueError)):
        Settings()


# --- the served app reads the environment -----------------------------------------------


@pytest.fixture(scope="module")
def from_env(tmp_path_factory) -> Iterator[Served]:
    """`dateline serve` with no flags at all: port, keys and signing key from DATELINE_*."""
    port = free_port()
    env = clean_env(DATELINE_PORT=str(port), DATELINE_API_KEYS='["sk-env"]', DATELINE_SIGNING_KEY="replica-key")
    served = Served(tmp_path_factory.mktemp("serve") / "output.log", env=env, port=port)
    try:
        yield served.wait_ready()
    finally:
        served.stop()


def headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


def test_served_app_reads_port_and_keys_from_the_env(from_env):
    url = f"{from_env.base_url}/v1/messages/count_tokens"
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(url, json=body, headers=headers("sk-env"), timeout=30).status_code == 200
    refused = httpx.post(url, json=body, headers=headers("sk-other"), timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "invalid x-api-key"


def test_served_app_signs_with_the_env_key(from_env, base_url):
    """A thinking block signed with DATELINE_SIGNING_KEY verifies there and nowhere else."""
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = [{"role": "user", "content": "Think about tide pools"}]
    with anthropic.Anthropic(base_url=from_env.base_url, api_key="sk-env", max_retries=0) as client:
        answer = client.messages.create(model="claude-sonnet-4-5", max_tokens=2048, thinking=thinking, messages=first)
        block = answer.content[0]
        assert block.type == "thinking" and block.signature
        follow_up = [
            *first,
            {"role": "assistant", "content": [block.model_dump(include={"type", "thinking", "signature"})]},
            {"role": "user", "content": "And then?"},
        ]
        again = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2048, thinking=thinking, messages=follow_up
        )
        assert again.type == "message"
    # The test session's own server has a key of its own database's, so it refuses that signature.
    with anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0) as other:
        with pytest.raises(anthropic.BadRequestError) as info:
            other.messages.create(model="claude-sonnet-4-5", max_tokens=2048, thinking=thinking, messages=follow_up)
    assert "Invalid `signature` in `thinking` block" in info.value.body["error"]["message"]


# --- secrets, loopback, trusted proxies -------------------------------------------------


def test_secrets_come_from_files_and_never_show(env, tmp_path):
    (tmp_path / "keys").write_text("sk-a\n\n  sk-b  \n")
    (tmp_path / "token").write_text("tok-secret\n")
    settings = Settings(api_keys_file=tmp_path / "keys", admin_token_file=tmp_path / "token")
    assert settings.api_keys == ["sk-a", "sk-b"] and settings.admin_token == "tok-secret"
    assert "tok-secret" not in repr(settings) and "sk-a" not in repr(settings)
    # Read once: the settings pass on as values (to workers, or a test server's copy).
    assert Settings(**settings.model_dump()).admin_token == "tok-secret"


def test_a_secret_given_both_ways_or_unreadable_is_refused_without_its_value(env, tmp_path):
    (tmp_path / "token").write_text("from-file")
    with pytest.raises(pydantic.ValidationError, match="give admin_token or admin_token_file, not both"):
        Settings(admin_token="given-secret", admin_token_file=tmp_path / "token")
    with pytest.raises(pydantic.ValidationError, match="cannot read"):
        Settings(signing_key_file=tmp_path / "absent")
    env.setenv("DATELINE_PORT", "port-secret")
    with pytest.raises(pydantic.ValidationError) as info:
        Settings()
    assert "port-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False), ("", False)],
)
def test_loopback_hosts(env, host, loopback):
    assert Settings(host=host).on_loopback is loopback


def test_trusted_proxies(env):
    assert Settings().trusts_proxy("127.0.0.1") and not Settings().trusts_proxy("127.0.0.2")
    listed = Settings(forwarded_allow_ips="10.0.0.0/8, ::1,/run/proxy.sock")
    assert listed.trusts_proxy("10.200.0.1") and listed.trusts_proxy("::1") and listed.trusts_proxy("/run/proxy.sock")
    assert not listed.trusts_proxy("11.0.0.1") and not listed.trusts_proxy(None) and not listed.trusts_proxy("junk")
    assert Settings(forwarded_allow_ips="*").trusts_proxy("203.0.113.9")
    env.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")  # uvicorn's own variable
    assert Settings().trusts_proxy("192.0.2.1") and not Settings().trusts_proxy("127.0.0.1")
    env.setenv("DATELINE_FORWARDED_ALLOW_IPS", "192.0.2.2")  # Dateline's wins
    assert Settings().trusts_proxy("192.0.2.2") and not Settings().trusts_proxy("192.0.2.1")
