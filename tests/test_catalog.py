"""The model catalog as data: contents, alias resolution, additions, order.
(Its wire shape and pagination: tests/resources/test_models.py.)"""

from __future__ import annotations

import re
import typing

import pytest
from anthropic.types.model import Model

from dateline.catalog import EPOCH, Catalog, ModelInfo


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
