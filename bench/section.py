"""What every section of the run shares: the run's ``Config``, the ``Results``
each section adds to, and ``guarded``, which lets the run go on past a
failed measurement."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from progress import log

if TYPE_CHECKING:
    from load import Load

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "results" / "latest.md"

GROUPS = ("floor", "messages", "stream", "complete", "count_tokens", "litellm", "proxy", "chat", "memory",
          "batches", "observe")

OPEN_STREAMS_TARGET = 1000


@dataclass
class Config:
    duration: int = 10
    warmup: int = 2
    threads: int = 1
    connections: int = 32
    workers: int = 1
    first_event_concurrency: int = 8
    streams: int = OPEN_STREAMS_TARGET
    batch_requests: int = 10_000
    groups: tuple[str, ...] = GROUPS
    litellm: bool = True  #: False with --no-litellm: no LiteLLM row in any section
    output: Path = DEFAULT_OUTPUT

    @property
    def first_event_seconds(self) -> int:
        return max(1, self.duration // 2)

    def wrk_flags(self, seconds: int) -> list[str]:
        return [f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]


@dataclass
class Results:
    loads: dict[str, Load] = field(default_factory=dict)
    stream_events: int | None = None
    first_event_ms: tuple[float, float, int] | None = None  # p50, p99, count
    idle_rss_mb: float | None = None
    open_rss_mb: float | None = None
    batches: list = field(default_factory=list)  # of bench/batch.py's Measured
    failures: dict[str, str] = field(default_factory=dict)


def guarded(results: Results, names: list[str], measure: Callable[[], object]) -> None:
    """Run one measurement; a failure is recorded (for the rows ``names``) and the run goes on."""
    try:
        measure()
    except Exception as exc:  # noqa: BLE001 - reported in the table, and in the exit status
        record_failure(results, names, exc)


def record_failure(results: Results, names: list[str], exc: Exception) -> None:
    log(f"{', '.join(names)} FAILED: {exc}")
    for name in names:
        results.failures[name] = str(exc).strip() or type(exc).__name__
