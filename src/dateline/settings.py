"""Configuration: command-line flags win, then ``DATELINE_*`` environment
variables, then the built-in defaults.

Secrets (``SECRETS``) may each come from a file instead (``admin_token_file``,
``--admin-token-file``…), so that they show in no command line; they are
never shown in a setting's ``repr`` or in a validation error.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from .config import Config

#: The settings that are secrets, each with a ``<name>_file`` setting to read it from.
SECRETS = ("api_keys", "admin_token", "signing_key", "openai_api_key", "anthropic_api_key", "redis_url")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    # An empty variable (`DATELINE_API_KEYS=`) means "not set", not a value to parse.
    model_config = SettingsConfigDict(
        env_prefix="DATELINE_", extra="ignore", env_ignore_empty=True, populate_by_name=True, hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = 8000
    #: Accepted API keys; empty means any non-empty key is accepted.
    api_keys: list[str] = Field(default_factory=list, repr=False)
    #: A file of accepted API keys, one a line.
    api_keys_file: Path | None = None
    #: Seconds the built-in model waits before each streamed token.
    token_delay: float = 0.0
    #: Key for the signatures on thinking blocks; none: a random one, made on
    #: first start and kept in the database, so replicas sharing it agree.
    signing_key: str | None = Field(default=None, repr=False)
    signing_key_file: Path | None = None
    log_level: str = "info"
    workers: int = 1
    #: A rules file (YAML or JSON) of scripted replies and faults, loaded at start.
    script: str | None = None
    #: Token guarding ``/_dateline/`` (the admin API); none means unguarded
    #: (allowed only on a loopback ``host``).
    admin_token: str | None = Field(default=None, repr=False)
    admin_token_file: Path | None = None
    #: How many requests ``/_dateline/requests`` keeps; 0 turns the log off.
    request_log_size: int = Field(default=1000, ge=0)
    #: Bytes of headers and bodies the request log keeps at most (oldest dropped first).
    request_log_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    #: Whether the ``dateline-fault`` request header may ask for errors and delays.
    fault_header: bool = True
    #: Where the embedded SQLite database and uploaded files live
    #: (default ``$XDG_DATA_HOME/dateline``, else ``~/.local/share/dateline``).
    data_dir: Path | None = None
    #: ``postgresql://…`` (or ``sqlite:///…``) instead of the embedded SQLite.
    database_url: str | None = None
    #: ``redis://…``: rate limits and usage shared by every replica on this Redis
    #: (none: each process keeps its own). A secret: the URL may hold a password.
    redis_url: str | None = Field(default=None, repr=False)
    redis_url_file: Path | None = None
    #: The server's address as clients see it (behind a proxy), for ``results_url``.
    public_url: str | None = None
    #: Proxies whose ``X-Forwarded-Host``/``-Proto`` are believed (uvicorn's
    #: convention: addresses or networks, comma-separated, ``*`` for any).
    forwarded_allow_ips: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("DATELINE_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS")
    )
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
    #: Serve ``GET /metrics`` and count for it (guarded like the admin API).
    metrics: bool = True
    #: ``json`` (one object a line) or ``text``; none: text on a terminal, JSON otherwise.
    log_format: Literal["json", "text"] | None = None

    _proxies: tuple[bool, tuple[_Network, ...], frozenset[str]] = PrivateAttr()

    @property
    def accepted_keys(self) -> frozenset[str] | None:
        return frozenset(self.api_keys) if self.api_keys else None

    #: A TOML file mapping models to upstream servers (see ``dateline.config``).
    config: Path | None = None
    #: Serve every model from this OpenAI-compatible server (``…/v1``).
    openai_upstream: str | None = None
    openai_api_key: str | None = Field(default=None, repr=False)
    openai_api_key_file: Path | None = None
    #: Serve every model from this Anthropic-compatible server (its root URL).
    anthropic_upstream: str | None = None
    anthropic_api_key: str | None = Field(default=None, repr=False)
    anthropic_api_key_file: Path | None = None
    #: Seconds to wait for a one-flag upstream's answer (or between stream chunks).
    upstream_timeout: float = Field(default=600.0, gt=0)
    #: Append every upstream exchange to this cassette (JSONL).
    record: Path | None = None
    #: Answer upstream requests from this cassette instead of the network.
    replay: Path | None = None

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        """Each secret given as a file, read (once: the file setting is then cleared)."""
        for name in SECRETS:
            path = getattr(self, f"{name}_file")
            if path is None:
                continue
            if getattr(self, name):
                raise ValueError(f"give {name} or {name}_file, not both")
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"{name}_file: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
            if name == "api_keys":
                setattr(self, name, [line.strip() for line in text.splitlines() if line.strip()])
            else:
                setattr(self, name, text.strip() or None)
            setattr(self, f"{name}_file", None)
        return self

    def model_post_init(self, context: Any) -> None:
        everyone, networks, names = False, [], set()
        for item in filter(None, (part.strip() for part in self.forwarded_allow_ips.split(","))):
            if item == "*":
                everyone = True
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.add(item)  # a literal, as uvicorn takes it (a host name, a socket path)
        self._proxies = (everyone, tuple(networks), frozenset(names))

    def trusts_proxy(self, peer: str | None) -> bool:
        """Whether the client at ``peer`` is a proxy whose forwarded headers count."""
        everyone, networks, names = self._proxies
        if everyone or peer in names:
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    @property
    def on_loopback(self) -> bool:
        """Whether ``host`` is reachable from this machine only."""
        host = self.host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

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
