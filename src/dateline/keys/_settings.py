"""What an API key may do: its rate limits, models, spend limit and API versions.

Kept as JSON beside the key; checked when written (``check``), so that a key
stored by an older Dateline still loads when a version it names is gone.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .. import errors
from ..versions import VERSIONS

#: A model id, or a glob of them (``claude-opus-*``).
Glob = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Rate = Annotated[int, Field(ge=1)]
Dollars = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Workspace = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RateLimits(BaseModel):
    """Per minute; a rate left out is not limited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: Rate | None = None
    input_tokens_per_minute: Rate | None = None
    output_tokens_per_minute: Rate | None = None

    def over(self, base: RateLimits) -> RateLimits:
        """These limits, each one left out taken from ``base``."""
        return RateLimits(
            requests_per_minute=self.requests_per_minute or base.requests_per_minute,
            input_tokens_per_minute=self.input_tokens_per_minute or base.input_tokens_per_minute,
            output_tokens_per_minute=self.output_tokens_per_minute or base.output_tokens_per_minute,
        )

    @property
    def any(self) -> bool:
        return any((self.requests_per_minute, self.input_tokens_per_minute, self.output_tokens_per_minute))


class UnifiedLimits(BaseModel):
    """The "unified" subscription windows (what Claude Code shows as usage): the
    tokens a key may use within 5 hours and within 7 days of a window's first use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    five_hour: Rate | None = None
    seven_day: Rate | None = None


class KeySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The key's limits, for every model without a class of its own.
    rate_limits: RateLimits = RateLimits()
    #: Model classes with buckets of their own: a glob of model ids → limits
    #: (a rate left out is the key's). The first glob that matches wins.
    model_rate_limits: dict[str, RateLimits] = {}
    #: The unified windows, with their ``anthropic-ratelimit-unified-*`` headers; None: none.
    unified_limits: UnifiedLimits | None = None
    #: Globs of the models the key may use; None: every model.
    allowed_models: list[Glob] | None = None
    #: US dollars the key may spend; None: no limit.
    spend_limit: Dollars | None = None
    #: The ``anthropic-version`` a request without the header is served under.
    default_version: str | None = None
    #: The versions a request may name; None: every version.
    accepted_versions: list[str] | None = None

    def limits_for(self, model: str) -> tuple[str | None, RateLimits]:
        """The bucket a request for ``model`` draws on: its class's glob (None: the
        key's own buckets) and the limits there."""
        for glob, limits in self.model_rate_limits.items():
            if fnmatchcase(model, glob):
                return glob, limits.over(self.rate_limits)
        return None, self.rate_limits

    def allows(self, *models: str) -> bool:
        """Whether any of these names of one model (as sent, as the catalog knows it) is allowed."""
        if self.allowed_models is None:
            return True
        return any(fnmatchcase(model, glob) for model in models for glob in self.allowed_models)

    @property
    def limited(self) -> bool:
        """Whether any rate, window or spend limit applies."""
        return (
            self.spend_limit is not None
            or self.unified_limits is not None
            or self.rate_limits.any
            or any(limits.any for limits in self.model_rate_limits.values())
        )


class KeyCreate(KeySettings):
    """A new key (the admin API's body): its name, workspace and settings."""

    name: Name
    workspace_id: Workspace | None = None


class KeyUpdate(BaseModel):
    """A change to a key, as a JSON merge patch (RFC 7386): what it names
    changes, ``null`` puts a setting back to its default (a model class's
    ``null`` removes the class), objects merge and lists replace."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    workspace_id: Workspace | None = None
    rate_limits: RateLimits | None = None
    model_rate_limits: dict[str, RateLimits | None] | None = None
    unified_limits: UnifiedLimits | None = None
    allowed_models: list[Glob] | None = None
    spend_limit: Dollars | None = None
    default_version: str | None = None
    accepted_versions: list[str] | None = None


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge_patch(merged[name], value)
        else:
            merged[name] = value
    return merged


def check(settings: KeySettings) -> None:
    """Settings about to be written, checked beyond their types: every version
    named is one Dateline serves, and the default is among those accepted."""
    for glob in settings.model_rate_limits:
        if not 1 <= len(glob) <= 256:
            raise errors.InvalidRequestError(
                f"model_rate_limits: {glob[:40]!r} is no model glob (give 1 to 256 characters)"
            )
    accepted = settings.accepted_versions
    if accepted is not None:
        if not accepted:
            raise errors.InvalidRequestError(
                "accepted_versions: List should have at least 1 item after validation, not 0"
            )
        for index, version in enumerate(accepted):
            if version not in VERSIONS:
                raise errors.InvalidRequestError(f'accepted_versions.{index}: "{version}" is not a valid version')
    default = settings.default_version
    if default is not None:
        if default not in VERSIONS:
            raise errors.InvalidRequestError(f'default_version: "{default}" is not a valid version')
        if accepted is not None and default not in accepted:
            raise errors.InvalidRequestError(
                f'default_version: "{default}" is not one of the accepted_versions ({", ".join(accepted)})'
            )
