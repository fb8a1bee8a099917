"""The model catalog as data: contents, alias resolution, additions, order.
(Its wire shape and pagination: tests/resources/test_models.py.)"""

from __future__ import annotations

import dataclasses
import re
import typing
from importlib import resources

import pytest
from anthropic.types.model import Model

from dateline.catalog import DATA_FILE, EPOCH, FEATURE_WORDS, FEATURES, Catalog, ModelInfo, read_models


def sdk_model_ids() -> set[str]:
    literal = next(arg for arg in typing.get_args(Model) if typing.get_origin(arg) is typing.Literal)
    return set(typing.get_args(literal))


@pytest.fixture()
def catalog() -> Catalog:
    return Catalog.default()


# -- contents ---------------------------------------------------------------


def test_every_current_sdk_model_id_is_known(catalog: Catalog) -> None:
    ids = sdk_model_ids()
    assert len(ids) >= 20
    missing = sorted(name for name in ids if catalog.get(name) is None)
    assert missing == []


LEGACY = [
    "claude-2.1",
    "claude-2.0",
    "claude-instant-1.2",
    "claude-3-opus-20240229",
    "claude-3-sonnet-20240229",
    "claude-3-haiku-20240307",
    "claude-3-5-sonnet-20240620",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-sonnet-latest",
    "claude-3-5-haiku-20241022",
    "claude-3-5-haiku-latest",
    "claude-3-7-sonnet-latest",
    "claude-3-opus-latest",
    "claude-4-opus-20250514",
    "claude-opus-4-0",
    "claude-sonnet-4-0",
    "claude-opus-4-1",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-8",
    "claude-mythos-preview",
    # 2023 completion-era names
    "claude-v1",
    "claude-v1.3",
    "claude-instant-v1",
    "claude-1",
    "claude-1-100k",
    "claude-instant-1",
    "claude-instant-1.1",
    "claude-2",
    "claude-1.3-100k",
    "claude-instant-1.1-100k",
]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_names_are_known(catalog: Catalog, name: str) -> None:
    assert name in catalog
    assert catalog.get(name) is not None


def test_ids_and_aliases_are_distinct(catalog: Catalog) -> None:
    names = [name for info in catalog.list() for name in info.names]
    assert len(names) == len(set(names))
    assert catalog.names() == set(names)
    assert len(catalog) == len(catalog.ids())


def test_created_at_format_and_dated_ids(catalog: Catalog) -> None:
    for info in catalog.list():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00Z", info.created_at), info.id
        dated = re.search(r"-(\d{4})(\d{2})(\d{2})$", info.id)
        if dated:
            assert info.created_at[:10] == "-".join(dated.groups()), info.id


def test_release_dates_follow_generations(catalog: Catalog) -> None:
    def day(name: str) -> str:
        info = catalog.get(name)
        assert info is not None
        return info.created_at

    chain = [
        "claude-1.0",
        "claude-1.3",
        "claude-2.0",
        "claude-instant-1.2",
        "claude-2.1",
        "claude-3-opus-20240229",
        "claude-3-5-sonnet-20240620",
        "claude-3-7-sonnet-20250219",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-6",
        "claude-opus-4-7",
        "claude-opus-4-8",
        "claude-fable-5",
        "claude-opus-5",
        "claude-fable-5-1",
        "claude-opus-5-5",
        "claude-haiku-5-5",
        "claude-fable-5-2",
    ]
    days = [day(name) for name in chain]
    assert days == sorted(days)
    assert days[0] > EPOCH


def test_display_names(catalog: Catalog) -> None:
    expected = {
        "claude-sonnet-4-5": "Claude Sonnet 4.5",
        "claude-3-5-haiku-latest": "Claude 3.5 Haiku",
        "claude-3-7-sonnet-20250219": "Claude 3.7 Sonnet",
        "claude-2.1": "Claude 2.1",
        "claude-instant-1.2": "Claude Instant 1.2",
        "claude-opus-4-8": "Claude Opus 4.8",
        "claude-fable-5-1": "Claude Fable 5.1",
        "claude-mythos-preview": "Claude Mythos Preview",
    }
    assert {name: catalog.get(name).display_name for name in expected} == expected


def test_limits(catalog: Catalog) -> None:
    def limits(name: str) -> tuple[int | None, int | None]:
        info = catalog.get(name)
        return info.max_input_tokens, info.max_tokens

    assert limits("claude-2.1") == (200000, 4096)
    assert limits("claude-3-opus-20240229") == (200000, 4096)
    assert limits("claude-3-5-sonnet-20241022") == (200000, 8192)
    assert limits("claude-3-5-haiku-20241022") == (200000, 8192)
    assert limits("claude-opus-4-1")[1] == 32000
    assert limits("claude-sonnet-4-5")[1] == 64000
    assert limits("claude-opus-4-8") == (1000000, 128000)
    for info in catalog.list():
        assert info.max_input_tokens and info.max_tokens
        assert info.max_tokens < info.max_input_tokens


def test_capability_flags(catalog: Catalog) -> None:
    get = catalog.get
    assert get("claude-v1").completions_only
    assert get("claude-instant-1.1").completions_only
    assert get("claude-2.1").supports_completions and get("claude-2.1").supports_messages
    assert not get("claude-3-haiku-20240307").supports_completions
    assert not get("claude-2.1").supports_images
    assert get("claude-3-haiku-20240307").supports_images
    assert not get("claude-3-5-sonnet-latest").supports_thinking
    assert get("claude-3-7-sonnet-latest").supports_thinking
    for info in catalog.list():
        if info.created_at >= get("claude-3-7-sonnet-20250219").created_at:
            assert info.supports_thinking, info.id
        if info.created_at >= get("claude-3-opus-20240229").created_at:
            assert info.supports_images and info.supports_messages, info.id
    assert get("claude-opus-4-8").has("adaptive") and not get("claude-opus-4-8").has("think")
    assert get("claude-fable-5").has("no_disable") and not get("claude-haiku-4-5").has("effort")


# -- aliases ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "target"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("claude-opus-4-5", "claude-opus-4-5-20251101"),
        ("claude-opus-4-1", "claude-opus-4-1-20250805"),
        ("claude-opus-4-0", "claude-opus-4-20250514"),
        ("claude-4-sonnet-20250514", "claude-sonnet-4-20250514"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"),
        ("claude-3-opus-latest", "claude-3-opus-20240229"),
        ("claude-v1.3", "claude-1.3"),
        ("claude-instant-1", "claude-instant-1.2"),
        ("claude-opus-4-8", "claude-opus-4-8"),
    ],
)
def test_alias_resolution(catalog: Catalog, alias: str, target: str) -> None:
    info = catalog.get(alias)
    assert info is not None and info.id == target
    assert catalog.resolve(alias) == target


def test_unknown_model(catalog: Catalog) -> None:
    assert catalog.get("claude-nonexistent") is None
    assert catalog.resolve("claude-nonexistent") is None
    assert "claude-nonexistent" not in catalog


def test_only_ids_are_listed(catalog: Catalog) -> None:
    listed = set(catalog.ids())
    assert "claude-sonnet-4-5-20250929" in listed
    assert "claude-sonnet-4-5" not in listed
    assert "claude-opus-4-8" in listed


def test_lifecycle_fields(catalog: Catalog) -> None:
    retired = catalog.get("claude-2.1")
    assert retired.lifecycle == "retired" and retired.deprecated_at and retired.retires_at
    active = catalog.get("claude-opus-4-8")
    assert active.lifecycle == "active" and active.deprecated_at is None and active.retires_at is None
    for info in catalog.list():
        if info.lifecycle != "active":
            assert info.deprecated_at < info.retires_at, info.id


# -- extra entries ----------------------------------------------------------


def test_extra_entries() -> None:
    catalog = Catalog.default()
    before = len(catalog)
    catalog.add(ModelInfo(id="local-llama", backend="ollama", aliases=("llama",)))
    assert len(catalog) == before + 1
    assert Catalog.default().get("local-llama") is None  # the default is not shared
    info = catalog.get("llama")
    assert info.id == "local-llama" and info.display_name == "local-llama"
    assert info.created_at == EPOCH and info.supports_messages and not info.supports_completions
    assert info.features is None
    assert catalog.ids()[-1] == "local-llama"  # epoch: listed last

    with pytest.raises(ValueError):
        catalog.add(ModelInfo(id="claude-opus-4-8"))
    with pytest.raises(ValueError):
        catalog.add(ModelInfo(id="other", aliases=("claude-sonnet-4-5",)))

    catalog.add(ModelInfo(id="claude-opus-4-8", display_name="Opus via proxy", backend="proxy"), replace=True)
    assert catalog.get("claude-opus-4-8").display_name == "Opus via proxy"
    catalog.add(ModelInfo(id="my-sonnet", aliases=("claude-sonnet-4-5",)), replace=True)
    assert catalog.resolve("claude-sonnet-4-5") == "my-sonnet"
    assert catalog.get("claude-sonnet-4-5-20250929").aliases == ()
    catalog.add(ModelInfo(id="claude-haiku-4-5", backend="proxy"), replace=True)
    assert catalog.get("claude-haiku-4-5").backend == "proxy"
    assert catalog.get("claude-haiku-4-5-20251001").aliases == ()

    with pytest.raises(ValueError):
        ModelInfo(id="x", created_at="yesterday")
    with pytest.raises(ValueError):
        ModelInfo(id="x", features=frozenset({"telepathy"}))


# -- order ------------------------------------------------------------------


def test_list_is_newest_first(catalog: Catalog) -> None:
    listed = catalog.list()
    keys = [(info.created_at, info.id) for info in listed]
    assert keys == sorted(keys, reverse=True)
    same_day = [info.id for info in listed if info.created_at.startswith("2024-10-22")]
    assert same_day == ["claude-3-5-sonnet-20241022", "claude-3-5-haiku-20241022"]
    assert [info.id for info in catalog] == catalog.ids()


# -- the data file ----------------------------------------------------------

BUILTIN_TEXT = resources.files("dateline").joinpath(DATA_FILE).read_text(encoding="utf-8")

OPUS_4_8 = """[models."claude-opus-4-8"]
display_name = "Claude Opus 4.8"
released = 2026-05-28
max_input_tokens = 1_000_000
max_tokens = 128_000
line = "opus"
features = "c47 +system_mid"
cache_min_tokens = 1024
default_effort = "high"
"""


def test_the_catalog_is_the_data_file(catalog: Catalog) -> None:
    assert resources.files("dateline").joinpath(DATA_FILE).is_file()  # package data, beside the module
    models = read_models(BUILTIN_TEXT)
    assert sorted(models, key=lambda info: info.id) == sorted(catalog.list(), key=lambda info: info.id)
    assert OPUS_4_8 in BUILTIN_TEXT


def test_every_word_the_code_reads_is_a_described_feature() -> None:
    words = """complete messages image pdf citations batch think adaptive between no_disable low_disable
    effort effort_max effort_xhigh structured ctx_edit compact web_search code_exec ptc
    no_forced_tool no_prefill no_sampling system_mid window_stop ctx_1m""".split()
    assert FEATURES == frozenset(words)
    assert all(FEATURE_WORDS[word].strip() for word in words)


def test_the_1m_beta_opens_only_ctx_1m_models() -> None:
    catalog = Catalog.default()
    sonnet, haiku = catalog.get("claude-sonnet-4-5"), catalog.get("claude-haiku-4-5")
    assert sonnet.context_window() == 200_000 and sonnet.context_window(["context-1m-2025-08-07"]) == 1_000_000
    assert haiku.context_window(["context-1m-2025-08-07"]) == haiku.max_input_tokens == 200_000


def test_a_model_added_to_the_file_is_in_the_catalog() -> None:
    added = OPUS_4_8.replace("claude-opus-4-8", "claude-opus-4-9").replace("4.8", "4.9").replace("05-28", "11-30")
    models = {info.id: info for info in read_models(BUILTIN_TEXT + "\n" + added + 'aliases = ["opus-next"]\n')}
    info = models["claude-opus-4-9"]
    assert info == dataclasses.replace(
        models["claude-opus-4-8"],
        id="claude-opus-4-9",
        display_name="Claude Opus 4.9",
        created_at="2026-11-30T00:00:00Z",
        aliases=("opus-next",),
    )
    catalog = Catalog(models.values())
    assert catalog.ids()[0] == "claude-opus-4-9" and catalog.resolve("opus-next") == "claude-opus-4-9"


def broken(old: str, new: str) -> str:
    assert old in BUILTIN_TEXT, old
    return BUILTIN_TEXT.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'features = "c47 +system_mid"\ncache_min_tokens = 1024\ndefault_effort = "high"\n',
            'features = "c47 +system_mid +telepathy"\ncache_min_tokens = 1024\ndefault_effort = "high"\n',
            """models.toml: models."claude-opus-4-8".features: unknown feature word 'telepathy'""",
        ),
        (
            "released = 2026-05-28",
            'released = "2026-02-30"',
            """models.toml: models."claude-opus-4-8".released: expected a date, YYYY-MM-DD, got '2026-02-30'""",
        ),
        ("released = 2026-05-28", "released = 2026-02-30", "models.toml: Invalid date or datetime"),
        (
            "released = 2026-05-28",
            "released = 2026-05-28T10:00:00",
            'models."claude-opus-4-8".released: expected a date',
        ),
        (
            "released = 2025-09-29",
            "released = 2025-09-30",
            """models."claude-sonnet-4-5-20250929".released: 2025-09-30 is not the date in the id""",
        ),
        (
            'display_name = "Claude Opus 4.8"\n',
            'display_name = "Claude Opus 4.8"\ncontext = 5\n',
            """models."claude-opus-4-8": unknown key(s) context; the keys are display_name, released""",
        ),
        ('display_name = "Claude Opus 4.8"\n', "", """models."claude-opus-4-8": missing display_name"""),
        (
            'features = "c47 +system_mid"\ncache',
            'features = "c48 +system_mid"\ncache',
            """models."claude-opus-4-8".features: unknown profile 'c48'""",
        ),
        (
            'features = "c47 +system_mid"\ncache',
            'features = "c47 system_mid"\ncache',
            """models."claude-opus-4-8".features: 'system_mid': after the profile, each word needs + (add) or - (take away)""",
        ),
        ('c55 = "c47 +between"', 'c55 = "c47 +betwixt"', "models.toml: profiles.c55: unknown feature word 'betwixt'"),
        (
            'features = "c47 +system_mid"\ncache_min_tokens = 1024\ndefault_effort = "high"\n',
            'features = "c47 +system_mid"\ncache_min_tokens = 1024\ndefault_effort = "extreme"\n',
            """models."claude-opus-4-8": default_effort 'extreme' is not one of its effort levels (low, medium, high, xhigh, max)""",
        ),
        (
            'features = "c47 +system_mid"\ncache_min_tokens = 1024\ndefault_effort = "high"\n',
            'features = "c47 +system_mid"\ncache_min_tokens = 1024\n',
            """models."claude-opus-4-8": a model with effort needs a default_effort""",
        ),
        (
            'features = "c47 +system_mid"\ncache',
            'features = "c47 +system_mid +no_disable +low_disable"\ncache',
            """models."claude-opus-4-8": no_disable and low_disable contradict each other""",
        ),
        (
            'features = "c47 +system_mid"\ncache',
            'features = "c47 +system_mid -effort"\ncache',
            """models."claude-opus-4-8": feature effort_max needs feature effort""",
        ),
        (
            'max_tokens = 128_000\nline = "opus"\nfeatures = "c47 +system_mid"',
            'max_tokens = true\nline = "opus"\nfeatures = "c47 +system_mid"',
            """models."claude-opus-4-8".max_tokens: expected a whole number of tokens above 0, got True""",
        ),
        (
            'line = "opus"\nfeatures = "c47 +system_mid"',
            'line = "cantata"\nfeatures = "c47 +system_mid"',
            """models."claude-opus-4-8": line must be one of""",
        ),
        (
            'default_effort = "high"\n\n[models."claude-fable-5"]',
            'default_effort = "high"\naliases = ["claude-opus-4-7"]\n\n[models."claude-fable-5"]',
            """models."claude-opus-4-8": 'claude-opus-4-7' already names claude-opus-4-7""",
        ),
        (
            'stage = "retired", deprecated = 2024-09-04, retires = 2024-11-06 }\n\n[models."claude-1.0"]',
            'stage = "gone", deprecated = 2024-09-04, retires = 2024-11-06 }\n\n[models."claude-1.0"]',
            """models."claude-instant-1.0".lifecycle.stage: expected one of active, deprecated, retired, got 'gone'""",
        ),
        (
            "deprecated = 2026-11-20, retires = 2027-01-22",
            "deprecated = 2026-11-20, retires = 2026-11-20",
            "retires 2026-11-20 is not after deprecated 2026-11-20",
        ),
        (
            "deprecated = 2026-11-20, retires = 2027-01-22",
            "retires = 2027-01-22",
            """models."claude-opus-4-5-20251101".lifecycle: a deprecated model needs its deprecated date""",
        ),
        (
            'stage = "retired", deprecated = 2026-06-05, retires = 2026-08-05',
            'stage = "retired", deprecated = 2026-06-05',
            "a retired model needs its retires date",
        ),
        (
            "deprecated = 2026-11-20, retires = 2027-01-22",
            "deprecated = 2025-10-01, retires = 2027-01-22",
            "deprecated 2025-10-01 before its release 2025-11-01",
        ),
    ],
)
def test_a_mistake_in_the_file_is_named(old: str, new: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_models(broken(old, new))
    assert message in str(caught.value)


def test_a_file_that_is_not_toml_is_named() -> None:
    with pytest.raises(ValueError, match=r"^models.toml: .*\(at line 1, column"):
        read_models("this is not = = toml")
    with pytest.raises(ValueError, match=r"^mine.toml: unknown table\(s\) \['model'\]"):
        read_models('[model."x"]\n', "mine.toml")
    with pytest.raises(ValueError, match=r"no \[models"):
        read_models("[features]\n")


# -- what each model accepts --------------------------------------------------


def test_thinking_types(catalog: Catalog) -> None:
    def types(name: str) -> tuple[str, ...]:
        return catalog.get(name).thinking_types

    assert types("claude-3-5-haiku-latest") == ("disabled",)  # no thinking: disabled is accepted, as the API says
    assert types("claude-sonnet-4-5") == ("enabled", "disabled")
    assert types("claude-opus-4-6") == ("enabled", "adaptive", "disabled")
    assert types("claude-opus-4-8") == ("adaptive", "disabled")
    assert types("claude-fable-5") == ("adaptive",)  # no_disable
    assert types("claude-opus-5") == ("adaptive", "disabled")  # low_disable: disabled, at effort high or lower
    assert types("claude-haiku-5-5") == ("adaptive", "between_tools", "disabled")
    assert types("claude-sonnet-5-5") == ("adaptive", "between_tools")


def test_effort_levels_and_defaults(catalog: Catalog) -> None:
    def effort(name: str) -> tuple[tuple[str, ...], str | None]:
        info = catalog.get(name)
        return info.effort_levels, info.default_effort

    assert effort("claude-haiku-4-5") == ((), None)
    assert effort("claude-opus-4-5") == (("low", "medium", "high"), "high")
    assert effort("claude-opus-4-6") == (("low", "medium", "high", "max"), "high")
    assert effort("claude-opus-5-5") == (("low", "medium", "high", "xhigh", "max"), "medium")
    for info in catalog.list():
        assert (info.default_effort is None) == (not info.effort_levels), info.id
        if info.has("low_disable") or info.has("no_disable"):
            assert info.effort_levels, info.id


def test_per_model_values(catalog: Catalog) -> None:
    get = catalog.get
    assert [
        get(name).cache_min_tokens
        for name in ("claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8", "claude-fable-5")
    ] == [4096, 2048, 1024, 512]
    assert get("claude-sonnet-4-5").max_input_tokens == 200_000 and get("claude-haiku-5-5").max_tokens == 128_000
    assert get("claude-fable-5-1").has("no_forced_tool") and not get("claude-fable-5").has("no_forced_tool")
    assert get("claude-opus-4-8").has("system_mid") and not get("claude-opus-4-7").has("system_mid")
    assert get("claude-sonnet-4-5").has("window_stop") and not get("claude-opus-4-1").has("window_stop")
    assert get("claude-opus-4-6").has("no_prefill") and not get("claude-opus-4-6").has("no_sampling")


def test_model_info_checks_its_words() -> None:
    with pytest.raises(ValueError, match="contradict"):
        ModelInfo(id="x", features=frozenset({"effort", "no_disable", "low_disable"}), default_effort="high")
    with pytest.raises(ValueError, match="default_effort 'max' is not one of its effort levels"):
        ModelInfo(id="x", features=frozenset({"effort"}), default_effort="max")
    with pytest.raises(ValueError, match="expected a date"):
        ModelInfo(id="x", created_at="2026-02-30")
    assert ModelInfo(id="x", created_at="2026-02-28").created_at == "2026-02-28T00:00:00Z"
