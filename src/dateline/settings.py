"""Configuration: command-line flags win, then ``DATELINE_*`` environment
variables, then the built-in defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SIGNING_KEY = "dateline-built-in-signing-key"


class Settings(BaseSettings):
    # An empty variable (`DATELINE_API_KEYS=`) means "not set", not a value to parse.
    model_config = SettingsConfigDict(env_prefix="DATELINE_", extra="ignore", env_ignore_empty=True)

    host: str = "127.0.0.1"
    port: int = 8000
    #: Accepted API keys; empty means any non-empty key is accepted.
    api_keys: list[str] = Field(default_factory=list)
    #: Seconds the built-in model waits before each streamed token.
    token_delay: float = 0.0
    #: Key for the signatures on thinking blocks. Replicas that share a load
    #: balancer must share it; the default keeps replies reproducible.
    signing_key: str = DEFAULT_SIGNING_KEY
    log_level: str = "info"
    workers: int = 1
    #: A rules file (YAML or JSON) of scripted replies and faults, loaded at start.
    script: str | None = None
    #: Token guarding ``/_dateline/`` (the admin API); none means unguarded.
    admin_token: str | None = None
    #: How many requests ``/_dateline/requests`` keeps; 0 turns the log off.
    request_log_size: int = Field(default=1000, ge=0)

    @property
    def accepted_keys(self) -> frozenset[str] | None:
        return frozenset(self.api_keys) if self.api_keys else None
