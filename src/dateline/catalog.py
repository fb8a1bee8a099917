"""The model catalog: the models Dateline knows, as data, for model-name
checks and ``GET /v1/models`` (whose wire format is ``resources/models.py``).

The built-in data is two small tables parsed at import:

``_MODELS``
    One row per listed model: id, display name, release date, context window,
    output limit, model line, feature profile, and the alias ids that resolve
    to it.  A ``-`` release date means "the date in the id" (dated ids such as
    ``claude-sonnet-4-5-20250929``).  Undated ids carry their release date.

``_LIFECYCLE``
    Models that are not ``active``: their lifecycle stage, deprecation date
    and retirement date.  Stages are those of the catalog snapshot (late
    November 2026), so the wire output does not change with the clock.

A feature profile is a named set of feature words (``_PROFILES``), optionally
adjusted with ``+word`` / ``-word``.  The words:

=============  ==============================================================
complete       served by the legacy Text Completions API (``/v1/complete``)
messages       served by the Messages API
image, pdf     image / PDF content blocks accepted
citations      citation generation
batch          Message Batches API
think          ``thinking.type = "enabled"`` (caller-set ``budget_tokens``)
adaptive       ``thinking.type = "adaptive"``
between        ``thinking.type = "between_tools"``
no_disable     ``thinking.type = "disabled"`` is rejected
effort         effort levels low / medium / high
effort_max     effort level max
effort_xhigh   effort level xhigh
structured     structured outputs / strict tool schemas
ctx_edit       context editing (clear tool uses; clear thinking when thinking)
compact        server-side compaction strategy ``compact_20260112``
web_search     the web search server tool
code_exec      the code execution server tool
ptc            programmatic tool calling (code execution calling other tools)
low_disable    ``thinking.type = "disabled"`` only at effort ``high`` or lower
no_forced_tool ``tool_choice`` ``any`` / ``tool`` rejected (count_tokens too)
no_prefill     a final assistant message (prefill) rejected
no_sampling    non-default ``temperature`` / ``top_p`` / ``top_k`` rejected
system_mid     ``{"role": "system"}`` messages mid-conversation accepted
window_stop    stops with ``model_context_window_exceeded`` when the window is full
=============  ==============================================================
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "EPOCH",
    "FEATURES",
    "LIFECYCLES",
    "MODEL_LINES",
    "Catalog",
    "ModelInfo",
]

EPOCH = "1970-01-01T00:00:00Z"
"""``created_at`` for models whose release date is unknown (as the API does)."""

LIFECYCLES = ("active", "deprecated", "retired")
MODEL_LINES = ("haiku", "sonnet", "opus", "fable", "mythos")
FEATURES = frozenset(
    """complete messages image pdf citations batch think adaptive between no_disable
    effort effort_max effort_xhigh structured ctx_edit compact web_search code_exec
    ptc low_disable no_forced_tool no_prefill no_sampling system_mid window_stop""".split()
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_ID_DATE = re.compile(r"-(\d{4})(\d{2})(\d{2})$")


def _timestamp(value: str | None, what: str) -> str | None:
    """Normalise ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` to the latter."""
    if value is None:
        return None
    if _DATE.match(value):
        return f"{value}T00:00:00Z"
    if _TIMESTAMP.match(value):
        return value
    raise ValueError(f"{what}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got {value!r}")


@dataclass(frozen=True)
class ModelInfo:
    """One listed model.

    ``features`` of ``None`` means "unknown" (an entry added for a model served
    by another backend): its ``capabilities`` are then ``null`` and the model
    is assumed to speak the Messages API only.
    """

    id: str
    display_name: str = ""
    created_at: str = EPOCH
    max_input_tokens: int | None = None
    max_tokens: int | None = None
    aliases: tuple[str, ...] = ()
    line: str | None = None
    lifecycle: str = "active"
    deprecated_at: str | None = None
    retires_at: str | None = None
    features: frozenset[str] | None = None
    backend: str | None = None
    """Which backend serves the model; ``None`` for the built-in one."""
    cache_min_tokens: int = 1024
    """The shortest prompt prefix a cache breakpoint writes (shorter: no caching, no error)."""
    default_effort: str | None = None
    """``output_config.effort`` when the request sets none (models with effort only)."""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("model id must not be empty")
        set_ = object.__setattr__
        if not self.display_name:
            set_(self, "display_name", self.id)
        set_(self, "created_at", _timestamp(self.created_at, f"{self.id}: created_at"))
        set_(self, "deprecated_at", _timestamp(self.deprecated_at, f"{self.id}: deprecated_at"))
        set_(self, "retires_at", _timestamp(self.retires_at, f"{self.id}: retires_at"))
        set_(self, "aliases", tuple(self.aliases))
        if self.id in self.aliases:
            raise ValueError(f"{self.id}: a model cannot alias itself")
        if self.lifecycle not in LIFECYCLES:
            raise ValueError(f"{self.id}: lifecycle must be one of {LIFECYCLES}, got {self.lifecycle!r}")
        if self.line is not None and self.line not in MODEL_LINES:
            raise ValueError(f"{self.id}: line must be one of {MODEL_LINES} or None, got {self.line!r}")
        if self.features is not None:
            features = frozenset(self.features)
            unknown = features - FEATURES
            if unknown:
                raise ValueError(f"{self.id}: unknown feature(s) {sorted(unknown)}")
            set_(self, "features", features)

    def has(self, feature: str) -> bool:
        return self.features is not None and feature in self.features

    @property
    def names(self) -> tuple[str, ...]:
        """The id followed by its aliases."""
        return (self.id, *self.aliases)

    @property
    def supports_messages(self) -> bool:
        return self.features is None or "messages" in self.features

    @property
    def supports_completions(self) -> bool:
        """Served by the legacy ``/v1/complete`` endpoint (Claude 1.x, 2.x, Instant)."""
        return self.has("complete")

    @property
    def completions_only(self) -> bool:
        return self.supports_completions and not self.supports_messages

    @property
    def supports_images(self) -> bool:
        return self.has("image")

    @property
    def supports_thinking(self) -> bool:
        """Any form of extended thinking (``enabled`` or ``adaptive``)."""
        return self.has("think") or self.has("adaptive")


# --------------------------------------------------------------------------
# Built-in data
# --------------------------------------------------------------------------

_PROFILES: dict[str, frozenset[str]] = {}


def _features(spec: str) -> frozenset[str]:
    """``"base+word-word"``: a profile (or nothing) adjusted word by word."""
    base, *changes = re.split(r"(?=[+-])", spec)
    features = set(_PROFILES[base]) if base else set()
    for change in changes:
        (features.add if change[0] == "+" else features.discard)(change[1:])
    return frozenset(features)


for _name, _spec in (
    ("v1", "+complete"),  # Claude 1.x, Instant 1.0/1.1: completions only
    ("v2", "v1+messages"),  # Claude 2.x, Instant 1.2
    ("c3", "+messages+image+batch"),  # Claude 3, the June 3.5 Sonnet
    ("c35", "c3+pdf+citations+web_search"),  # the October 3.5 Sonnet
    ("h35", "c35+code_exec"),  # 3.5 Haiku
    ("s37", "h35+think"),  # 3.7 Sonnet
    ("c4", "s37+ctx_edit"),  # Claude 4
    ("c45", "c4+structured"),  # Opus 4.1, the 4.5 generation
    ("c46", "c45+adaptive+effort+effort_max+compact+ptc+no_prefill+window_stop"),  # 4.6 generation
    ("c47", "c46+effort_xhigh+no_sampling-think"),  # 4.7 on: adaptive thinking only
    ("fable", "c47+no_disable+system_mid"),  # thinking always on
    ("c55", "c47+between"),
):
    _PROFILES[_name] = _features(_spec)
del _name, _spec

# id | display name | released (- = date in id) | context | max output | line | profile | cache min | default effort | aliases
_MODELS = """
claude-instant-1.0         | Claude Instant 1.0        | 2023-03-14 | 9000    | 4096   | -      | v1                                       | 1024 | -      | claude-instant-v1.0
claude-1.0                 | Claude 1.0                | 2023-03-14 | 9000    | 4096   | -      | v1                                       | 1024 | -      | claude-v1.0
claude-1.2                 | Claude 1.2                | 2023-04-05 | 9000    | 4096   | -      | v1                                       | 1024 | -      | claude-v1.2
claude-1.3                 | Claude 1.3                | 2023-04-18 | 9000    | 4096   | -      | v1                                       | 1024 | -      | claude-v1.3 claude-1 claude-v1
claude-instant-1.1         | Claude Instant 1.1        | 2023-04-25 | 9000    | 4096   | -      | v1                                       | 1024 | -      | claude-instant-v1.1
claude-1.3-100k            | Claude 1.3 (100K)         | 2023-05-11 | 100000  | 4096   | -      | v1                                       | 1024 | -      | claude-v1.3-100k claude-1-100k claude-v1-100k
claude-instant-1.1-100k    | Claude Instant 1.1 (100K) | 2023-05-11 | 100000  | 4096   | -      | v1                                       | 1024 | -      | claude-instant-v1.1-100k
claude-2.0                 | Claude 2.0                | 2023-07-11 | 100000  | 4096   | -      | v2                                       | 1024 | -      | claude-2
claude-instant-1.2         | Claude Instant 1.2        | 2023-08-09 | 100000  | 4096   | -      | v2                                       | 1024 | -      | claude-instant-1 claude-instant-v1 claude-instant-1-100k claude-instant-v1-100k
claude-2.1                 | Claude 2.1                | 2023-11-21 | 200000  | 4096   | -      | v2                                       | 1024 | -      |
claude-3-opus-20240229     | Claude 3 Opus             | -          | 200000  | 4096   | opus   | c3                                       | 1024 | -      | claude-3-opus-latest
claude-3-sonnet-20240229   | Claude 3 Sonnet           | -          | 200000  | 4096   | sonnet | c3                                       | 1024 | -      |
claude-3-haiku-20240307    | Claude 3 Haiku            | -          | 200000  | 4096   | haiku  | c3                                       | 2048 | -      |
claude-3-5-sonnet-20240620 | Claude 3.5 Sonnet (Old)   | -          | 200000  | 8192   | sonnet | c3                                       | 1024 | -      |
claude-3-5-sonnet-20241022 | Claude 3.5 Sonnet (New)   | -          | 200000  | 8192   | sonnet | c35                                      | 1024 | -      | claude-3-5-sonnet-latest
claude-3-5-haiku-20241022  | Claude 3.5 Haiku          | -          | 200000  | 8192   | haiku  | h35                                      | 2048 | -      | claude-3-5-haiku-latest
claude-3-7-sonnet-20250219 | Claude 3.7 Sonnet         | -          | 200000  | 64000  | sonnet | s37                                      | 1024 | -      | claude-3-7-sonnet-latest
claude-sonnet-4-20250514   | Claude Sonnet 4           | -          | 200000  | 64000  | sonnet | c4                                       | 1024 | -      | claude-sonnet-4-0 claude-4-sonnet-20250514
claude-opus-4-20250514     | Claude Opus 4             | -          | 200000  | 32000  | opus   | c4                                       | 1024 | -      | claude-opus-4-0 claude-4-opus-20250514
claude-opus-4-1-20250805   | Claude Opus 4.1           | -          | 200000  | 32000  | opus   | c45                                      | 1024 | -      | claude-opus-4-1
claude-sonnet-4-5-20250929 | Claude Sonnet 4.5         | -          | 200000  | 64000  | sonnet | c45+ptc+window_stop                      | 1024 | -      | claude-sonnet-4-5
claude-haiku-4-5-20251001  | Claude Haiku 4.5          | -          | 200000  | 64000  | haiku  | c45+window_stop                          | 4096 | -      | claude-haiku-4-5
claude-opus-4-5-20251101   | Claude Opus 4.5           | -          | 200000  | 64000  | opus   | c45+effort+ptc+window_stop               | 4096 | high   | claude-opus-4-5
claude-opus-4-6            | Claude Opus 4.6           | 2026-02-04 | 1000000 | 128000 | opus   | c46                                      | 4096 | high   |
claude-sonnet-4-6          | Claude Sonnet 4.6         | 2026-02-17 | 1000000 | 128000 | sonnet | c46                                      | 1024 | high   |
claude-mythos-preview      | Claude Mythos Preview     | 2026-04-07 | 1000000 | 128000 | mythos | c46+effort_xhigh                         | 2048 | high   |
claude-opus-4-7            | Claude Opus 4.7           | 2026-04-14 | 1000000 | 128000 | opus   | c47                                      | 2048 | high   |
claude-opus-4-8            | Claude Opus 4.8           | 2026-05-28 | 1000000 | 128000 | opus   | c47+system_mid                           | 1024 | high   |
claude-fable-5             | Claude Fable 5            | 2026-06-07 | 1000000 | 128000 | fable  | fable                                    | 512  | high   |
claude-mythos-5            | Claude Mythos 5           | 2026-06-07 | 1000000 | 128000 | mythos | fable                                    | 512  | high   |
claude-sonnet-5            | Claude Sonnet 5           | 2026-06-29 | 1000000 | 128000 | sonnet | c47+system_mid                           | 1024 | high   |
claude-opus-5              | Claude Opus 5             | 2026-07-24 | 1000000 | 128000 | opus   | c47+system_mid+low_disable               | 512  | high   |
claude-fable-5-1           | Claude Fable 5.1          | 2026-08-25 | 1000000 | 128000 | fable  | fable+no_forced_tool                     | 512  | high   |
claude-mythos-5-1          | Claude Mythos 5.1         | 2026-08-25 | 1000000 | 128000 | mythos | fable+no_forced_tool                     | 512  | high   |
claude-opus-5-5            | Claude Opus 5.5           | 2026-09-21 | 1000000 | 128000 | opus   | c55+system_mid+no_disable+no_forced_tool | 512  | medium |
claude-sonnet-5-5          | Claude Sonnet 5.5         | 2026-09-28 | 1000000 | 128000 | sonnet | c55+system_mid+no_disable+no_forced_tool | 512  | high   |
claude-haiku-5-5           | Claude Haiku 5.5          | 2026-10-07 | 1000000 | 128000 | haiku  | c55+system_mid+low_disable               | 512  | medium |
claude-fable-5-2           | Claude Fable 5.2          | 2026-11-05 | 1000000 | 128000 | fable  | fable+between+no_forced_tool             | 512  | high   |
claude-mythos-5-2          | Claude Mythos 5.2         | 2026-11-05 | 1000000 | 128000 | mythos | fable+between+no_forced_tool             | 512  | high   |
"""

# id | lifecycle | deprecated | retires   (every model not listed here is active)
_LIFECYCLE = """
claude-instant-1.0          | retired    | 2024-09-04 | 2024-11-06
claude-1.0                  | retired    | 2024-09-04 | 2024-11-06
claude-1.2                  | retired    | 2024-09-04 | 2024-11-06
claude-1.3                  | retired    | 2024-09-04 | 2024-11-06
claude-instant-1.1          | retired    | 2024-09-04 | 2024-11-06
claude-1.3-100k             | retired    | 2024-09-04 | 2024-11-06
claude-instant-1.1-100k     | retired    | 2024-09-04 | 2024-11-06
claude-instant-1.2          | retired    | 2024-09-04 | 2024-11-06
claude-2.0                  | retired    | 2025-01-21 | 2025-07-21
claude-2.1                  | retired    | 2025-01-21 | 2025-07-21
claude-3-sonnet-20240229    | retired    | 2025-01-21 | 2025-07-21
claude-3-5-sonnet-20240620  | retired    | 2025-08-13 | 2025-10-28
claude-3-5-sonnet-20241022  | retired    | 2025-08-13 | 2025-10-28
claude-3-opus-20240229      | retired    | 2025-06-30 | 2026-01-05
claude-3-7-sonnet-20250219  | retired    | 2025-10-28 | 2026-02-19
claude-3-5-haiku-20241022   | retired    | 2025-12-19 | 2026-02-19
claude-3-haiku-20240307     | retired    | 2026-02-19 | 2026-04-19
claude-sonnet-4-20250514    | retired    | 2026-04-14 | 2026-06-15
claude-opus-4-20250514      | retired    | 2026-04-14 | 2026-06-15
claude-mythos-preview       | retired    | 2026-06-09 | 2026-06-30
claude-opus-4-1-20250805    | retired    | 2026-06-05 | 2026-08-05
claude-sonnet-4-5-20250929  | deprecated | 2026-09-28 | 2026-11-30
claude-opus-4-5-20251101    | deprecated | 2026-11-20 | 2027-01-22
"""


def _rows(table: str, width: int) -> Iterator[list[str]]:
    for raw in table.strip().splitlines():
        cells = [cell.strip() for cell in raw.split("|")]
        if len(cells) != width:
            raise ValueError(f"catalog table row has {len(cells)} cells, expected {width}: {raw!r}")
        yield cells


def _release_date(model_id: str, cell: str) -> str:
    if cell != "-":
        return cell
    match = _ID_DATE.search(model_id)
    if match is None:
        raise ValueError(f"{model_id}: undated id needs an explicit release date")
    return "-".join(match.groups())


def _builtin() -> tuple[ModelInfo, ...]:
    stages = {cells[0]: cells[1:] for cells in _rows(_LIFECYCLE, 4)}
    models = []
    for model_id, name, released, context, output, line, profile, cache, effort, aliases in _rows(_MODELS, 10):
        lifecycle, deprecated, retires = stages.pop(model_id, ("active", None, None))
        models.append(
            ModelInfo(
                id=model_id,
                display_name=name,
                created_at=_release_date(model_id, released),
                max_input_tokens=int(context),
                max_tokens=int(output),
                aliases=tuple(aliases.split()),
                line=None if line == "-" else line,
                lifecycle=lifecycle,
                deprecated_at=deprecated,
                retires_at=retires,
                features=_features(profile),
                cache_min_tokens=int(cache),
                default_effort=None if effort == "-" else effort,
            )
        )
    if stages:
        raise ValueError(f"lifecycle rows for unknown models: {sorted(stages)}")
    return tuple(models)


_BUILTIN = _builtin()


# --------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------


def _order_key(info: ModelInfo) -> tuple[str, str]:
    return (info.created_at, info.id)


class Catalog:
    """Listed models, newest first, with alias resolution.

    The listing order is ``created_at`` descending, ties broken by id, also
    descending (same-day models appear as the API lists them, e.g. the
    October 2024 3.5 Sonnet before 3.5 Haiku).
    """

    def __init__(self, entries: Iterable[ModelInfo] = ()) -> None:
        self._models: dict[str, ModelInfo] = {}
        self._by_name: dict[str, ModelInfo] = {}
        self._ordered: tuple[ModelInfo, ...] | None = None
        self.extend(entries)

    def __repr__(self) -> str:
        return f"<Catalog of {len(self._models)} models>"

    @classmethod
    def default(cls) -> Catalog:
        """A fresh catalog holding the built-in models (safe to add to)."""
        return cls(_BUILTIN)

    # -- building ----------------------------------------------------------

    def add(self, info: ModelInfo, *, replace: bool = False) -> None:
        """Add a model.  With ``replace``, an existing model of the same id
        is dropped first (with its aliases), and names that are aliases of
        other models move over to the new one."""
        if replace:
            old = self._models.get(info.id)
            if old is not None:
                self.remove(old.id)
            for name in info.names:
                holder = self._by_name.get(name)
                if holder is not None and holder.id != name:
                    self._drop_alias(holder, name)
        for name in info.names:
            holder = self._by_name.get(name)
            if holder is not None:
                kind = "id" if holder.id == name else f"alias of {holder.id}"
                raise ValueError(f"{name!r} is already in the catalog (as {kind})")
        self._models[info.id] = info
        for name in info.names:
            self._by_name[name] = info
        self._ordered = None

    def extend(self, entries: Iterable[ModelInfo], *, replace: bool = False) -> None:
        for info in entries:
            self.add(info, replace=replace)

    def remove(self, model_id: str) -> ModelInfo:
        """Remove a model (by its id, not an alias) and its aliases."""
        info = self._models.pop(model_id)
        for name in info.names:
            if self._by_name.get(name) is info:
                del self._by_name[name]
        self._ordered = None
        return info

    def _drop_alias(self, holder: ModelInfo, alias: str) -> None:
        slimmer = dataclasses.replace(holder, aliases=tuple(a for a in holder.aliases if a != alias))
        self._models[holder.id] = slimmer
        del self._by_name[alias]
        for name in slimmer.names:
            self._by_name[name] = slimmer
        self._ordered = None

    # -- reading -----------------------------------------------------------

    def get(self, id_or_alias: str) -> ModelInfo | None:
        """The model with this id, or the model this alias resolves to."""
        return self._by_name.get(id_or_alias)

    def resolve(self, id_or_alias: str) -> str | None:
        """The listed id an id or alias stands for."""
        info = self._by_name.get(id_or_alias)
        return None if info is None else info.id

    def list(self, *, lifecycle: Collection[str] | None = None) -> list[ModelInfo]:
        """Models newest first; optionally only those in the given lifecycle stages."""
        if self._ordered is None:
            self._ordered = tuple(sorted(self._models.values(), key=_order_key, reverse=True))
        if lifecycle is None:
            return list(self._ordered)
        stages = set(lifecycle)
        return [info for info in self._ordered if info.lifecycle in stages]

    def ids(self) -> list[str]:
        """Listed ids, newest first."""
        return [info.id for info in self.list()]

    def names(self) -> set[str]:
        """Every name the catalog answers to: ids and aliases."""
        return set(self._by_name)

    def __contains__(self, id_or_alias: object) -> bool:
        return id_or_alias in self._by_name

    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self.list())
