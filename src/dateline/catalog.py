"""The model catalog: the models Dateline knows, for model-name checks,
per-model limits and rules, and ``GET /v1/models`` (whose wire format is
``resources/models.py``).

The built-in models are data: ``models.toml`` beside this module, read once
at import; its header explains every key, and its ``[features]`` table what
each feature word means. Code asks a model about a word with
``info.has("word")``. ``Catalog.default()`` is a fresh catalog of them.
Each model's price (``info.price``) comes from the file's ``[prices]``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import tomllib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "DATA_FILE",
    "EFFORT_LEVELS",
    "EPOCH",
    "FEATURES",
    "FEATURE_WORDS",
    "LIFECYCLES",
    "MODEL_LINES",
    "THINKING_TYPES",
    "Catalog",
    "ModelInfo",
    "Price",
    "read_models",
]

EPOCH = "1970-01-01T00:00:00Z"
"""``created_at`` for models whose release date is unknown (as the API does)."""

#: The beta that opens a ``ctx_1m`` model's window to ``LONG_CONTEXT`` tokens.
LONG_CONTEXT_BETA = "context-1m-2025-08-07"
LONG_CONTEXT = 1_000_000

LIFECYCLES = ("active", "deprecated", "retired")
MODEL_LINES = ("haiku", "sonnet", "opus", "fable", "mythos")
EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
"""``output_config.effort`` values, lowest first."""
THINKING_TYPES = ("enabled", "adaptive", "between_tools", "disabled")
"""``thinking.type`` values."""

DATA_FILE = "models.toml"
"""The built-in catalog, beside this module."""

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")
_ID_DATE = re.compile(r"-(\d{4})(\d{2})(\d{2})$")


def _timestamp(value: object, what: str) -> str | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` (a real date) as the latter."""
    if value is None:
        return None
    if isinstance(value, str) and _TIMESTAMP.match(value):
        try:
            datetime.datetime.fromisoformat(value.removesuffix("Z"))
        except ValueError:
            pass
        else:
            return value if len(value) > 10 else f"{value}T00:00:00Z"
    raise ValueError(f"{what}: expected a date, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got {value!r}")


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: {exc}") from None


_DOCUMENT = _toml(resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8"), DATA_FILE)
"""The built-in catalog file, parsed (its models are read below, once ``ModelInfo`` exists)."""

FEATURE_WORDS: Mapping[str, str] = MappingProxyType(dict(_DOCUMENT.get("features", {})))
"""Every feature word and what it means (the data file's ``[features]``)."""
FEATURES = frozenset(FEATURE_WORDS)


@dataclass(frozen=True)
class Price:
    """What a model's tokens cost: USD per million tokens (``models.toml``'s ``[prices]``).

    Cache writes and reads are multipliers of the base input price; a prompt
    over ``long_above`` tokens (input, cache writes and reads together) pays
    ``long_input`` and ``long_output`` instead, the multipliers applying to
    them; a batch request pays every price times ``batch``.
    """

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal = Decimal("1.25")
    cache_write_1h: Decimal = Decimal("2")
    cache_read: Decimal = Decimal("0.1")
    batch: Decimal = Decimal("0.5")
    long_above: int | None = None
    long_input: Decimal | None = None
    long_output: Decimal | None = None

    def __post_init__(self) -> None:
        if len({self.long_above is None, self.long_input is None, self.long_output is None}) != 1:
            raise ValueError("a long-prompt price needs its threshold, input and output prices together")

    def base(self, prompt_tokens: int) -> tuple[Decimal, Decimal]:
        """The input and output prices for a prompt of this many tokens."""
        if self.long_input is not None and self.long_output is not None and prompt_tokens > (self.long_above or 0):
            return self.long_input, self.long_output
        return self.input, self.output


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
    price: Price | None = field(default=None, compare=False)
    """What its tokens cost; ``None``: not priced (counted in usage at no cost). Not part of
    what the model is, so two entries differing only in price compare equal."""

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
            _check_features(self)

    def context_window(self, betas: Collection[str] = ()) -> int | None:
        """The context window a request gets: 1M on a ``ctx_1m`` model with its beta."""
        if LONG_CONTEXT_BETA in betas and self.has("ctx_1m"):
            return LONG_CONTEXT
        return self.max_input_tokens

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

    @property
    def thinking_types(self) -> tuple[str, ...]:
        """The ``thinking.type`` values the model accepts (``disabled`` with
        ``low_disable``: only at effort ``high`` or lower). A model without
        thinking accepts ``disabled``, as the API says."""
        accepted = {
            "enabled": self.has("think"),
            "adaptive": self.has("adaptive"),
            "between_tools": self.has("between"),
            "disabled": not self.has("no_disable"),
        }
        return tuple(kind for kind in THINKING_TYPES if accepted[kind])

    @property
    def effort_levels(self) -> tuple[str, ...]:
        """The ``output_config.effort`` values the model accepts, lowest first."""
        if not self.has("effort"):
            return ()
        return tuple(level for level in EFFORT_LEVELS if level not in ("xhigh", "max") or self.has(f"effort_{level}"))


def _check_features(info: ModelInfo) -> None:
    """Words that contradict each other, or a default effort the model lacks."""
    has = info.has
    if has("no_disable") and has("low_disable"):
        raise ValueError(
            f"{info.id}: no_disable and low_disable contradict each other (refused, or refused above high)"
        )
    for needs, word in (("effort", "effort_max"), ("effort", "effort_xhigh"), ("effort", "low_disable")):
        if has(word) and not has(needs):
            raise ValueError(f"{info.id}: feature {word} needs feature {needs}")
    if info.default_effort is not None and info.default_effort not in info.effort_levels:
        levels = ", ".join(info.effort_levels) or "none"
        raise ValueError(
            f"{info.id}: default_effort {info.default_effort!r} is not one of its effort levels ({levels})"
        )


# --------------------------------------------------------------------------
# Reading the data file
# --------------------------------------------------------------------------

_REQUIRED = ("display_name", "released", "max_input_tokens", "max_tokens", "features", "cache_min_tokens")
_OPTIONAL = ("line", "default_effort", "aliases", "lifecycle")
_LIFECYCLE_KEYS = ("stage", "deprecated", "retires")


def read_models(text: str, source: str = DATA_FILE) -> tuple[ModelInfo, ...]:
    """The models of a catalog file (``models.toml``'s format), checked:
    a ``ValueError`` names the file, the model and the key at fault."""
    return _read(_toml(text, source), source)


def _read(document: dict[str, Any], source: str) -> tuple[ModelInfo, ...]:
    unknown = set(document) - {"features", "profiles", "models", "pricing", "prices"}
    if unknown:
        raise ValueError(
            f"{source}: unknown table(s) {sorted(unknown)}; expected features, profiles, models, pricing, prices"
        )
    words = document.get("features", {})
    for word, meaning in words.items():
        if not isinstance(meaning, str):
            raise ValueError(f"{source}: features.{word}: expected a string saying what the word means")
    profiles: dict[str, frozenset[str]] = {}
    for name, spec in document.get("profiles", {}).items():
        profiles[name] = _feature_set(spec, profiles, words, f"{source}: profiles.{name}")
    models = document.get("models", {})
    if not models:
        raise ValueError(f'{source}: no [models."<id>"] tables')
    read = tuple(
        _model(model_id, row, profiles, words, f'{source}: models."{model_id}"') for model_id, row in models.items()
    )
    holders: dict[str, str] = {}
    for info in read:
        for name in info.names:
            if name in holders:
                raise ValueError(f'{source}: models."{info.id}": {name!r} already names {holders[name]}')
            holders[name] = info.id
    return _priced(read, document, source)


def _feature_set(
    spec: object, profiles: Mapping[str, frozenset[str]], words: Mapping[str, str], where: str
) -> frozenset[str]:
    """``"profile +word -word"``: a profile (or nothing), adjusted word by word."""
    if not isinstance(spec, str):
        raise ValueError(f'{where}: expected a string such as "c47 +system_mid", got {spec!r}')
    tokens = spec.split()
    features: set[str] = set()
    if tokens and tokens[0][0] not in "+-":
        base = tokens.pop(0)
        if base not in profiles:
            raise ValueError(f"{where}: unknown profile {base!r} (profiles: {', '.join(profiles)})")
        features |= profiles[base]
    for token in tokens:
        sign, word = token[0], token[1:]
        if sign not in "+-":
            raise ValueError(f"{where}: {token!r}: after the profile, each word needs + (add) or - (take away)")
        if word not in words:
            raise ValueError(f"{where}: unknown feature word {word!r} (the words are in [features])")
        (features.add if sign == "+" else features.discard)(word)
    return frozenset(features)


def _model(
    model_id: str, row: object, profiles: Mapping[str, frozenset[str]], words: Mapping[str, str], where: str
) -> ModelInfo:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a table")
    missing = [key for key in _REQUIRED if key not in row]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(row) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join((*_REQUIRED, *_OPTIONAL))}"
        )
    released = _date(row["released"], f"{where}.released")
    dated = _ID_DATE.search(model_id)
    if dated and released != "-".join(dated.groups()):
        raise ValueError(f"{where}.released: {released} is not the date in the id")
    stage, deprecated, retires = _lifecycle(row.get("lifecycle"), f"{where}.lifecycle")
    if deprecated is not None and deprecated < released:
        raise ValueError(f"{where}.lifecycle: deprecated {deprecated} before its release {released}")
    aliases = row.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(alias, str) and alias for alias in aliases):
        raise ValueError(f"{where}.aliases: expected a list of names")
    features = _feature_set(row["features"], profiles, words, f"{where}.features")
    default_effort = _string(row.get("default_effort"), f"{where}.default_effort")
    if "effort" in features and default_effort is None:
        raise ValueError(f"{where}: a model with effort needs a default_effort")
    try:
        return ModelInfo(
            id=model_id,
            display_name=_string(row["display_name"], f"{where}.display_name"),
            created_at=released,
            max_input_tokens=_count(row["max_input_tokens"], f"{where}.max_input_tokens"),
            max_tokens=_count(row["max_tokens"], f"{where}.max_tokens"),
            aliases=tuple(aliases),
            line=_string(row.get("line"), f"{where}.line"),
            lifecycle=stage,
            deprecated_at=deprecated,
            retires_at=retires,
            features=features,
            cache_min_tokens=_count(row["cache_min_tokens"], f"{where}.cache_min_tokens"),
            default_effort=default_effort,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {str(exc).removeprefix(f'{model_id}: ')}") from None


_MULTIPLIERS = ("cache_write_5m", "cache_write_1h", "cache_read")
_PRICE_KEYS = ("input", "output", *_MULTIPLIERS, "long")
_LONG_KEYS = ("above", "input", "output")


def _priced(models: tuple[ModelInfo, ...], document: dict[str, Any], source: str) -> tuple[ModelInfo, ...]:
    """The models with their ``[prices]`` line, the ``[pricing]`` multipliers filling what a line leaves out."""
    pricing = document.get("pricing", {})
    if not isinstance(pricing, dict):
        raise ValueError(f"{source}: pricing: expected a table")
    unknown = sorted(set(pricing) - {*_MULTIPLIERS, "batch"})
    if unknown:
        raise ValueError(
            f"{source}: pricing: unknown key(s) {', '.join(unknown)}; the keys are "
            f"{', '.join((*_MULTIPLIERS, 'batch'))}"
        )
    defaults = {key: _usd(value, f"{source}: pricing.{key}") for key, value in pricing.items()}
    prices = document.get("prices", {})
    if not isinstance(prices, dict):
        raise ValueError(f"{source}: prices: expected a table")
    ids = {info.id for info in models}
    for model_id in prices:
        if model_id not in ids:
            raise ValueError(f'{source}: prices."{model_id}": no model has this id')
    return tuple(
        dataclasses.replace(info, price=_price(prices[info.id], defaults, f'{source}: prices."{info.id}"'))
        if info.id in prices
        else info
        for info in models
    )


def _price(row: object, defaults: Mapping[str, Decimal], where: str) -> Price:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected {{ input = USD, output = USD }}")
    missing = [key for key in ("input", "output") if key not in row]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(row) - set(_PRICE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_PRICE_KEYS)}")
    fields = {key: _usd(row[key], f"{where}.{key}") for key in ("input", "output", *_MULTIPLIERS) if key in row}
    long = row.get("long")
    if long is not None:
        if not isinstance(long, dict) or sorted(long) != sorted(_LONG_KEYS):
            raise ValueError(f"{where}.long: expected {{ above = tokens, input = USD, output = USD }}")
        fields["long_above"] = _count(long["above"], f"{where}.long.above")
        fields["long_input"] = _usd(long["input"], f"{where}.long.input")
        fields["long_output"] = _usd(long["output"], f"{where}.long.output")
    return Price(**{**defaults, **fields})


def _usd(value: object, where: str) -> Decimal:
    """A price or multiplier: a number at least 0, kept exact (0.1 stays 0.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise ValueError(f"{where}: expected a number at least 0, got {value!r}")
    return Decimal(str(value))


def _lifecycle(value: object, where: str) -> tuple[str, str | None, str | None]:
    """``(stage, deprecated, retires)``; an absent lifecycle is active."""
    if value is None:
        return "active", None, None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected {{ stage = ..., deprecated = YYYY-MM-DD, retires = YYYY-MM-DD }}")
    unknown = sorted(set(value) - set(_LIFECYCLE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_LIFECYCLE_KEYS)}")
    stage = value.get("stage")
    if stage not in LIFECYCLES:
        raise ValueError(f"{where}.stage: expected one of {', '.join(LIFECYCLES)}, got {stage!r}")
    deprecated = None if value.get("deprecated") is None else _date(value["deprecated"], f"{where}.deprecated")
    retires = None if value.get("retires") is None else _date(value["retires"], f"{where}.retires")
    if stage == "active" and (deprecated or retires):
        raise ValueError(f"{where}: an active model has no deprecated or retires date")
    if stage != "active" and deprecated is None:
        raise ValueError(f"{where}: a {stage} model needs its deprecated date")
    if stage == "retired" and retires is None:
        raise ValueError(f"{where}: a retired model needs its retires date")
    if deprecated and retires and retires <= deprecated:
        raise ValueError(f"{where}: retires {retires} is not after deprecated {deprecated}")
    return stage, deprecated, retires


def _date(value: object, where: str) -> str:
    """A TOML date (``2026-05-28``), or the same quoted: ``YYYY-MM-DD``."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a date, YYYY-MM-DD, got {value!r}")


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: expected a whole number of tokens above 0, got {value!r}")
    return value


def _string(value: object, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value


_BUILTIN = _read(_DOCUMENT, DATA_FILE)


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
