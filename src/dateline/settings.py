"""Configuration: command-line flags win, then ``DATELINE_*`` environment
variables, then the built-in defaults."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from .config import Config

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
    #: Where the embedded SQLite database and uploaded files live
    #: (default ``$XDG_DATA_HOME/dateline``, else ``~/.local/share/dateline``).
    data_dir: Path | None = None
    #: ``postgresql://…`` (or ``sqlite:///…``) instead of the embedded SQLite.
    database_url: str | None = None
    #: The server's address as clients see it (behind a proxy), for ``results_url``.
    public_url: str | None = None
    #: How many batch requests each process works on at once.
    batch_concurrency: int = Field(default=32, ge=1)
    #: Seconds between looks for batch work when idle (other processes may add some).
    batch_poll_interval: float = Field(default=1.0, gt=0)
    #: Seconds a worker holds a batch request before another may take it over.
    batch_lease: float = Field(default=60.0, gt=0)
    #: Seconds after creation a batch expires (the API's 24 hours).
    batch_expiry: float = Field(default=86400.0, gt=0)
    #: Let uploaded files be downloaded (the API allows it only for files tools made).
    files_downloadable: bool = False

    @property
    def accepted_keys(self) -> frozenset[str] | None:
        return frozenset(self.api_keys) if self.api_keys else None

    #: A TOML file mapping models to upstream servers (see ``dateline.config``).
    config: Path | None = None
    #: Serve every model from this OpenAI-compatible server (``…/v1``).
    openai_upstream: str | None = None
    openai_api_key: str | None = None
    #: Serve every model from this Anthropic-compatible server (its root URL).
    anthropic_upstream: str | None = None
    anthropic_api_key: str | None = None
    #: Seconds to wait for a one-flag upstream's answer (or between stream chunks).
    upstream_timeout: float = Field(default=600.0, gt=0)
    #: Append every upstream exchange to this cassette (JSONL).
    record: Path | None = None
    #: Answer upstream requests from this cassette instead of the network.
    replay: Path | None = None

    def resolved_data_dir(self) -> Path:
        from .store import default_data_dir

        return self.data_dir if self.data_dir is not None else default_data_dir()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir() / 'dateline.db'}"

    def upstream_config(self) -> Config | None:
        """The upstream configuration these settings name, if any (raises ConfigError)."""
        from .config import ConfigError, load, one_upstream

        named = [self.config is not None, self.openai_upstream is not None, self.anthropic_upstream is not None]
        if sum(named) > 1:
            raise ConfigError("give one of --config, --openai-upstream and --anthropic-upstream")
        if self.record is not None and self.replay is not None:
            raise ConfigError("give --record or --replay, not both")
        if self.config is not None:
            return load(self.config)
        if self.openai_upstream is not None:
            return one_upstream("openai", self.openai_upstream, self.openai_api_key, self.upstream_timeout)
        if self.anthropic_upstream is not None:
            return one_upstream("anthropic", self.anthropic_upstream, self.anthropic_api_key, self.upstream_timeout)
        return None
