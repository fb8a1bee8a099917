"""Several upstreams for one model: round-robin, fail-over, and a cool-down
for an upstream that failed, after which it is tried again."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Upstream:
    """One upstream server, as configured."""

    name: str
    kind: str  #: "openai" or "anthropic"
    base_url: str
    api_key: str | None = None
    #: Seconds to wait for the upstream to answer (for a stream: between chunks).
    timeout: float = 600.0
    connect_timeout: float = 5.0
    #: For ``anthropic``: the ``anthropic-version`` the upstream is sent, and
    #: the shape of the requests it gets; None: the client's own.
    version: str | None = None


@dataclass(frozen=True)
class Target:
    """Where one model's requests may go: an upstream and the model's name there."""

    upstream: Upstream
    model: str


@dataclass
class Pool(Generic[T]):
    """Members in turn; one that failed sits out ``cooldown`` seconds."""

    members: list[T]
    cooldown: float = 30.0
    _turn: Iterator[int] = field(init=False, repr=False)
    _resting_until: dict[int, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a pool needs at least one member")
        self._turn = itertools.cycle(range(len(self.members)))

    def order(self) -> list[T]:
        """Members to try for one request: the next in turn first, the resting ones last."""
        start = next(self._turn)
        indexes = [(start + k) % len(self.members) for k in range(len(self.members))]
        now = time.monotonic()
        ready = [i for i in indexes if self._resting_until.get(i, 0) <= now]
        resting = [i for i in indexes if i not in ready]
        return [self.members[i] for i in ready + resting]

    def failed(self, member: T) -> None:
        self._resting_until[self.members.index(member)] = time.monotonic() + self.cooldown

    def succeeded(self, member: T) -> None:
        self._resting_until.pop(self.members.index(member), None)
