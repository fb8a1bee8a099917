"""The limiter in one process: levels in a dict, each update whole between two awaits
(so concurrent requests on one event loop cannot both take the last token)."""

from __future__ import annotations

from ..prompt_cache import Clock
from ._answer import Admission
from ._model import (
    Level,
    Shortfall,
    Snapshot,
    Subject,
    Window,
    WindowUse,
    admission_costs,
    charge_costs,
    refilled,
)


class MemoryLimiter:
    """Token buckets and unified windows held in this process."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (level, at); absent: full
        self._windows: dict[str, tuple[float, float]] = {}  # name -> (started, used); absent: none open

    async def admit(self, subject: Subject, *, input_tokens: int = 0) -> Admission:
        now = self.clock.now()
        windows = self._uses(subject, now) if subject.windows else ()
        levels = self._levels(subject, now)
        costs, needs = admission_costs(subject, input_tokens)
        for level, need in zip(levels, needs):  # every request: a loop, not a generator
            if level.level < need:
                return self._refusal(Snapshot(now, levels, windows), needs)
        for use in windows:
            if use.exhausted:
                return self._refusal(Snapshot(now, levels, windows), needs)
        return Admission(Snapshot(now, self._take(levels, costs, now), windows))

    @staticmethod
    def _refusal(snapshot: Snapshot, needs: list[float]) -> Admission:
        """Nothing taken, and what fell short."""
        rejected = tuple(use for use in snapshot.windows if use.exhausted)
        shortfalls = tuple(
            Shortfall(level, need) for level, need in zip(snapshot.levels, needs, strict=True) if level.level < need
        )
        return Admission(snapshot, shortfalls, rejected)

    async def charge(
        self, subject: Subject, *, input_tokens: int = 0, output_tokens: int = 0, quota: float = 0
    ) -> Snapshot:
        now = self.clock.now()
        levels = self._take(self._levels(subject, now), charge_costs(subject, input_tokens, output_tokens), now)
        return Snapshot(now, levels, tuple(self._use(window, now, quota) for window in subject.windows))

    async def snapshot(self, subject: Subject) -> Snapshot:
        now = self.clock.now()
        return Snapshot(now, self._levels(subject, now), self._uses(subject, now))

    async def aclose(self) -> None:
        pass

    def _levels(self, subject: Subject, now: float) -> tuple[Level, ...]:
        stored = self._buckets.get
        out = []
        for bucket in subject.buckets:
            kept = stored(bucket.name)
            out.append(Level(bucket, float(bucket.limit) if kept is None else refilled(kept[0], kept[1], now, bucket)))
        return tuple(out)

    def _take(self, levels: tuple[Level, ...], costs: list[float], now: float) -> tuple[Level, ...]:
        out = []
        buckets = self._buckets
        for level, cost in zip(levels, costs):
            bucket = level.bucket
            after = level.level - cost
            if after >= bucket.limit:
                after = bucket.limit
                buckets.pop(bucket.name, None)  # full: as if never used
            else:
                buckets[bucket.name] = (after, now)
            out.append(Level(bucket, after))
        return tuple(out)

    def _uses(self, subject: Subject, now: float) -> tuple[WindowUse, ...]:
        return tuple(self._use(window, now, 0) for window in subject.windows)

    def _use(self, window: Window, now: float, amount: float) -> WindowUse:
        started, used = self._windows.get(window.name, (None, 0.0))
        if started is None or started + window.seconds <= now:
            started, used = None, 0.0  # none open: the next use opens one
        if amount > 0:
            started = now if started is None else started
            used += amount
            self._windows[window.name] = (started, used)
        resets_at = (now if started is None else started) + window.seconds
        return WindowUse(window, used, resets_at)
