"""What a limiter works on: limits, the buckets and windows a caller draws on, and
what a limiter answers (a snapshot of them, an admission). Pure data and arithmetic;
the two limiters (``_memory``, ``_redis``) keep the levels."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

REQUESTS = "requests"
INPUT = "input_tokens"
OUTPUT = "output_tokens"
KINDS = (REQUESTS, INPUT, OUTPUT)

KEY = "key"
WORKSPACE = "workspace"

FIVE_HOUR = "five_hour"
SEVEN_DAY = "seven_day"
WINDOW_SECONDS = {FIVE_HOUR: 5 * 3600, SEVEN_DAY: 7 * 86400}


@dataclass(frozen=True)
class Limits:
    """Per-minute limits; ``None``: that kind is not limited."""

    requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def __post_init__(self) -> None:
        for kind, limit in self._all():
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                raise ValueError(f"{kind} per minute: expected a whole number above 0, got {limit!r}")

    def _all(self) -> Iterator[tuple[str, int | None]]:
        yield REQUESTS, self.requests
        yield INPUT, self.input_tokens
        yield OUTPUT, self.output_tokens

    def items(self) -> Iterator[tuple[str, int]]:
        """``(kind, limit)`` for each kind that is limited."""
        return ((kind, limit) for kind, limit in self._all() if limit is not None)


@dataclass(frozen=True)
class Quota:
    """The "unified" subscription windows: how much a key may use in 5 hours and in 7 days."""

    five_hour: int | None = None
    seven_day: int | None = None


@dataclass(frozen=True)
class Bucket:
    """One token bucket: ``limit`` deep, refilling ``limit`` per minute, continuously."""

    owner: str  # KEY or WORKSPACE
    owner_id: str
    scope: str
    kind: str
    limit: int

    @cached_property
    def name(self) -> str:
        return f"{self.owner}:{self.owner_id}:{self.scope}:{self.kind}"

    @cached_property
    def rate(self) -> float:
        """Refill per second."""
        return self.limit / 60


@dataclass(frozen=True)
class Window:
    """One unified window of a key: ``allowance`` to use within ``seconds`` of its first use."""

    key: str
    claim: str  # FIVE_HOUR or SEVEN_DAY
    allowance: int

    @property
    def seconds(self) -> int:
        return WINDOW_SECONDS[self.claim]

    @property
    def name(self) -> str:
        return f"unified:{self.key}:{self.claim}"


@dataclass(frozen=True)
class Subject:
    """Who a request draws on: a key (by id, never its secret), its workspace when set,
    and a scope naming a separate set of buckets (a model class, ``batch``)."""

    key: str
    limits: Limits = field(default_factory=Limits)
    workspace: str | None = None
    workspace_limits: Limits | None = None
    scope: str = "default"
    quota: Quota | None = None
    #: The scope of the workspace's buckets, when not ``scope``: a key's model class is the
    #: key's own, and every key of a workspace draws on the same workspace buckets.
    workspace_scope: str | None = None

    @cached_property
    def buckets(self) -> tuple[Bucket, ...]:
        owners = [(KEY, self.key, self.scope, self.limits)]
        if self.workspace is not None and self.workspace_limits is not None:
            owners.append((WORKSPACE, self.workspace, self.workspace_scope or self.scope, self.workspace_limits))
        return tuple(
            Bucket(owner, owner_id, scope, kind, limit)
            for owner, owner_id, scope, limits in owners
            for kind, limit in limits.items()
        )

    def __hash__(self) -> int:
        return self._hash  # a key of the limiters' dicts on every request: hashed once

    @cached_property
    def _hash(self) -> int:
        return hash(
            (self.key, self.limits, self.workspace, self.workspace_limits, self.scope, self.quota, self.workspace_scope)
        )

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        """Each bucket's kind, in order (one of ``KINDS`` itself, so ``is`` compares)."""
        return tuple(KINDS[KINDS.index(bucket.kind)] for bucket in self.buckets)

    @cached_property
    def windows(self) -> tuple[Window, ...]:
        if self.quota is None:
            return ()
        claims = ((FIVE_HOUR, self.quota.five_hour), (SEVEN_DAY, self.quota.seven_day))
        return tuple(Window(self.key, claim, allowance) for claim, allowance in claims if allowance is not None)


def uncached_input(usage: Mapping[str, Any]) -> int:
    """What a request's input draws from the input bucket: its uncached input and cache
    writes; cache reads are not counted (``usage``: the API's usage object, or an estimate)."""
    return sum(
        value
        for value in (usage.get("input_tokens"), usage.get("cache_creation_input_tokens"))
        if isinstance(value, int) and not isinstance(value, bool) and value > 0
    )


def refilled(level: float, since: float, now: float, bucket: Bucket) -> float:
    """A bucket's level at ``now``, ``level`` at ``since``: continuous refill, up to its limit."""
    return min(float(bucket.limit), level + max(0.0, now - since) * bucket.rate)


def admission_costs(subject: Subject, input_tokens: int) -> tuple[list[float], list[float]]:
    """What a request takes from each bucket before it runs, and the level each needs.

    One request; its uncached input (cache reads are not counted); no output yet
    (charged as produced), but an output bucket must not be in debt.
    """
    costs = [1 if kind is REQUESTS else input_tokens if kind is INPUT else 0 for kind in subject.kinds]
    needs = [cost if kind is INPUT else max(cost, 1) for kind, cost in zip(subject.kinds, costs, strict=True)]
    return costs, needs


def charge_costs(subject: Subject, input_tokens: int, output_tokens: int) -> list[float]:
    """What a charge takes from each bucket (a negative input charge gives back an overestimate)."""
    return [0 if kind is REQUESTS else input_tokens if kind is INPUT else output_tokens for kind in subject.kinds]


# What a limiter answers on every request: named tuples, cheap to make.


class Level(NamedTuple):
    """A bucket's level at a moment."""

    bucket: Bucket
    level: float

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level))

    def full_at(self, now: float) -> float:
        """When the bucket is full again (the ``-reset`` header)."""
        return now + max(0.0, self.bucket.limit - self.level) / self.bucket.rate

    def wait(self, need: float) -> float:
        """Seconds until the level reaches ``need`` (a need above the limit: until full)."""
        return max(0.0, min(need, self.bucket.limit) - self.level) / self.bucket.rate


class WindowUse(NamedTuple):
    """A unified window at a moment: used so far, and when it resets (epoch seconds)."""

    window: Window
    used: float
    resets_at: float

    @property
    def utilization(self) -> float:
        return self.used / self.window.allowance

    @property
    def exhausted(self) -> bool:
        return self.used >= self.window.allowance


class Snapshot(NamedTuple):
    """Every bucket and window of a subject at ``now`` (epoch seconds)."""

    now: float
    levels: tuple[Level, ...] = ()
    windows: tuple[WindowUse, ...] = ()


class Shortfall(NamedTuple):
    """A bucket that could not give a request what it needed."""

    level: Level
    need: float

    @property
    def wait(self) -> float:
        return self.level.wait(self.need)

    @property
    def never(self) -> bool:
        """The request needs more than the bucket holds when full: it is refused every time."""
        return self.need > self.level.bucket.limit
