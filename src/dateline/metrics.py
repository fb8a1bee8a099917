"""Prometheus metrics: what every process counts, and the scrape.

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set before they
start, as ``dateline serve --workers N`` does), each writes its values to
files in that directory and a scrape sums them, whichever process answers.
Label values are the API's words and ids (an endpoint, a version, a model, a
key's id, never its secret); each label set's child is looked up once and
kept. Counters are added to at the end of a turn of the event loop (``add``):
under load the requests ending in one turn, dozens of them, share one
addition per label set, and a scrape adds what is pending first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import REGISTRY, Metric

from .turns import AtTurnEnd

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: from well under a millisecond (the built-in model) to minutes (an upstream's long answer).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: The token counts counted, and the ``kind`` label each is counted under.
TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_input_tokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_creation"),
)
#: Label sets kept per metric at most; past this, a label set is looked up each time (and not kept).
_KEPT = 20_000

REQUESTS = Counter(
    "dateline_requests",
    "Requests answered, by endpoint, method, API version, model, status and key id.",
    ("endpoint", "method", "version", "model", "status", "key"),
)
LATENCY = Histogram(
    "dateline_request_duration_seconds",
    "From the request's arrival to its answer's last byte (a stream's end).",
    ("endpoint", "model"),
    buckets=LATENCY_BUCKETS,
)
FIRST_TOKEN = Histogram(
    "dateline_time_to_first_token_seconds",
    "Streams: from the request's arrival to its first content delta.",
    ("model",),
    buckets=LATENCY_BUCKETS,
)
TOKENS = Counter(
    "dateline_tokens",
    "Tokens in answered Messages requests (batch requests included), by key id, model and kind.",
    ("key", "model", "kind", "batch"),
)
OPEN_STREAMS = Gauge("dateline_open_streams", "Streams being sent now.", multiprocess_mode="livesum")
UPSTREAM_REQUESTS = Counter(
    "dateline_upstream_requests",
    "Requests sent to upstream servers, by upstream and status (`error`: no answer).",
    ("upstream", "status"),
)
UPSTREAM_FAILURES = Counter(
    "dateline_upstream_failures",
    "Upstream requests that failed: unreachable, timeout, broken (the connection), or status (429, 5xx).",
    ("upstream", "reason"),
)
UPSTREAM_COOLDOWNS = Counter(
    "dateline_upstream_cooldowns",
    "Times an upstream was set to sit out its pool's cool-down (a failure as fail-over counts one).",
    ("upstream",),
)
RATE_LIMITED = Counter(
    "dateline_rate_limit_rejections",
    "Requests refused with 429 by a key's own rate or spend limits.",
    ("endpoint", "key"),
)

_children: dict[Any, dict[tuple[str, ...], Any]] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per label set."""
    kept = _children.get(metric)
    if kept is None:
        kept = _children[metric] = {}
    found = kept.get(labels)
    if found is None:
        found = metric.labels(*labels)
        if len(kept) < _KEPT:
            kept[labels] = found
    return found


#: Counter additions pending until the end of this turn of the event loop, by (metric, labels);
#: and tokens, by (key, model, batch), in the order of ``TOKEN_KINDS``.
_added: dict[tuple[Any, tuple[str, ...]], float] = {}
_tokens: dict[tuple[str, str, str], list[int]] = {}


def add(metric: Any, labels: tuple[str, ...], amount: float = 1) -> None:
    """``metric.labels(*labels).inc(amount)``, at the end of this turn of the event loop."""
    key = (metric, labels)
    _added[key] = _added.get(key, 0) + amount
    _flushing.soon()


def count_tokens(key: str, model: str, added: Any, *, batch: bool = False) -> None:
    """One answer's tokens, counted (at the end of this turn of the event loop, as ``add``);
    ``added``: the usage meter's counts of it (``usage.Counts``, whole and not negative)."""
    labels = (key, model, "true" if batch else "false")
    counts = _tokens.get(labels)
    if counts is None:
        counts = _tokens[labels] = [0] * len(TOKEN_KINDS)
    # In the order of TOKEN_KINDS.
    counts[0] += added.input_tokens
    counts[1] += added.output_tokens
    counts[2] += added.cache_read_input_tokens
    counts[3] += added.cache_creation_input_tokens
    _flushing.soon()


def flush() -> None:
    """The pending additions, made."""
    for (metric, labels), amount in _added.items():
        child(metric, *labels).inc(amount)
    _added.clear()
    for (key, model, batch), counts in _tokens.items():
        for (_, kind), value in zip(TOKEN_KINDS, counts):
            if value:
                child(TOKENS, key, model, kind, batch).inc(value)
    _tokens.clear()


_flushing = AtTurnEnd(flush)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))


class _Extra:
    """Families worked out at scrape time (from the store), served beside the counted ones."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def scrape(extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition: every process's values (summed across workers), plus ``extra``."""
    flush()
    registry = CollectorRegistry()
    if multiprocess():
        _multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    if extra:
        text = generate_latest(registry)
        extra_registry = CollectorRegistry()
        extra_registry.register(_Extra(extra))
        return text + generate_latest(extra_registry)
    return generate_latest(registry)
