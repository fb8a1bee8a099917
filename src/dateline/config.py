"""Upstream configuration: which models are answered by which servers.

A TOML file (``dateline serve --config FILE``)::

    cooldown = 30                          # seconds a failed upstream sits out

    [upstreams.local]
    kind = "openai"                        # or "anthropic"
    base_url = "http://127.0.0.1:8080/v1"  # openai: up to /v1; anthropic: the root
    api_key_env = "LOCAL_KEY"              # or api_key = "…"
    timeout = 120                          # seconds to wait for an answer, or between stream chunks
    connect_timeout = 5

    [models."claude-sonnet-4-5"]           # a Claude id, or any new one
    upstreams = ["local", "backup"]        # round-robin, with fail-over
    upstream_model = "qwen2.5-7b-instruct" # or {local = "qwen2.5", backup = "llama3"}

    [default]                              # every other model id
    upstreams = ["local"]

Without ``[default]``, other models are answered by the built-in model. The
one-flag forms (``--openai-upstream URL``, ``--anthropic-upstream URL``) are
a default route to one upstream.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .upstream import Upstream
from .versions import VERSIONS


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the place."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UpstreamConfig(_Strict):
    kind: Literal["openai", "anthropic"]
    base_url: str
    api_key: str | None = None
    api_key_env: str | None = None
    timeout: float = Field(default=600.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    version: str | None = None  #: for anthropic: None forwards each client's own anthropic-version

    @field_validator("version")
    @classmethod
    def _known(cls, version: str | None) -> str | None:
        if version is not None and version not in VERSIONS:
            raise ValueError(f"unknown API version {version!r}; known: {', '.join(v.date for v in VERSIONS)}")
        return version


class Route(_Strict):
    upstreams: list[str] = Field(min_length=1)
    upstream_model: str | dict[str, str] | None = None
    display_name: str | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    max_input_tokens: int | None = Field(default=None, gt=0)

    def model_at(self, upstream: str, requested: str) -> str:
        if isinstance(self.upstream_model, dict):
            return self.upstream_model.get(upstream, requested)
        return self.upstream_model or requested


class Config(_Strict):
    cooldown: float = Field(default=30.0, ge=0)
    upstreams: dict[str, UpstreamConfig] = Field(default_factory=dict)
    models: dict[str, Route] = Field(default_factory=dict)
    default: Route | None = None

    @model_validator(mode="after")
    def _known_upstreams(self) -> Config:
        routes = [(f"models.{model!r}", r) for model, r in self.models.items()]
        if self.default is not None:
            routes.append(("default", self.default))
        for where, route in routes:
            for name in route.upstreams:
                if name not in self.upstreams:
                    raise ValueError(f"{where}: no upstream named {name!r}")
            if len({self.upstreams[n].kind for n in route.upstreams}) > 1:
                raise ValueError(f"{where}: its upstreams must all be of one kind")
            if isinstance(route.upstream_model, dict):
                for name in route.upstream_model:
                    if name not in route.upstreams:
                        raise ValueError(f"{where}.upstream_model: {name!r} is not one of its upstreams")
        return self

    def upstream(self, name: str) -> Upstream:
        spec = self.upstreams[name]
        key = spec.api_key
        if key is None and spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
        return Upstream(
            name=name,
            kind=spec.kind,
            base_url=spec.base_url,
            api_key=key,
            timeout=spec.timeout,
            connect_timeout=spec.connect_timeout,
            version=spec.version,
        )


def load(path: str | Path) -> Config:
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, str(path))


def parse(data: dict, where: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {location + ': ' if location else ''}{message}") from None


def one_upstream(kind: Literal["openai", "anthropic"], base_url: str, api_key: str | None, timeout: float) -> Config:
    """``--openai-upstream URL`` / ``--anthropic-upstream URL``: every model goes there."""
    return Config(
        upstreams={kind: UpstreamConfig(kind=kind, base_url=base_url, api_key=api_key, timeout=timeout)},
        default=Route(upstreams=[kind]),
    )
