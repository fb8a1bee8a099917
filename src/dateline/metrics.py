"""Prometheus metrics: what every process counts, and the scrape.

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set before they
start, as ``dateline serve --workers N`` does), each writes its values to
files in that directory and a scrape sums them, whichever process answers.
Label values are the API's words and ids (an endpoint, a version, a model, a
key's id, never its secret); each label set's child is looked up once and
kept, so counting a request is a dictionary hit and a few additions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import REGISTRY, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: from well under a millisecond (the built-in model) to minutes (an upstream's long answer).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: The usage fields counted, and the ``kind`` label each is counted under.
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


_token_children: dict[tuple[str, str, bool], tuple[tuple[str, Any], ...]] = {}


def count_tokens(key: str, model: str, usage: Mapping[str, Any], *, batch: bool = False) -> None:
    """One answer's usage, counted."""
    kept = _token_children.get((key, model, batch))
    if kept is None:
        flag = "true" if batch else "false"
        kept = tuple((field, TOKENS.labels(key, model, kind, flag)) for field, kind in TOKEN_KINDS)
        if len(_token_children) < _KEPT:
            _token_children[(key, model, batch)] = kept
    for field, counter in kept:
        value = usage.get(field)
        if type(value) is int and value > 0:
            counter.inc(value)


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
