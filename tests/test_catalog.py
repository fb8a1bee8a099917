"""The model catalog: contents, wire shape, alias resolution, pagination."""

from __future__ import annotations

import json
import re
import typing
from urllib.parse import parse_qs

import anthropic
import httpx2
import pytest
from anthropic.types import ModelInfo as SDKModelInfo
from anthropic.types.model import Model
from pydantic import BaseModel

from dateline.catalog import EPOCH, OPTIONAL_FIELDS, Catalog, ModelInfo


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
    caps = get("claude-opus-4-8").capabilities
    assert caps["thinking"]["types"]["adaptive"] == {"supported": True}
    assert caps["thinking"]["types"]["enabled"] == {"supported": False}
    assert get("claude-fable-5").capabilities["thinking"]["types"]["disabled"] == {"supported": False}
    assert get("claude-haiku-4-5").capabilities["effort"]["supported"] is False


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
    assert catalog.to_api(info)["id"] == target


def test_unknown_model(catalog: Catalog) -> None:
    assert catalog.get("claude-nonexistent") is None
    assert catalog.resolve("claude-nonexistent") is None
    assert "claude-nonexistent" not in catalog


def test_only_ids_are_listed(catalog: Catalog) -> None:
    listed = set(catalog.ids())
    assert "claude-sonnet-4-5-20250929" in listed
    assert "claude-sonnet-4-5" not in listed
    assert "claude-opus-4-8" in listed


# -- wire shape ---------------------------------------------------------------


def _unknown_keys(data: dict, model: type[BaseModel], path: str = "") -> list[str]:
    """Keys the SDK type does not declare, at any depth."""
    found = []
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            found.append(path + key)
            continue
        if isinstance(value, dict):
            annotation = fields[key].annotation
            candidates = [annotation, *typing.get_args(annotation)]
            sub = next(c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))
            found += _unknown_keys(value, sub, f"{path}{key}.")
    return found


def test_to_api_validates_strictly_against_the_sdk(catalog: Catalog) -> None:
    for info in catalog.list():
        wire = catalog.to_api(info)
        assert list(wire)[:4] == ["type", "id", "display_name", "created_at"]
        parsed = SDKModelInfo.model_validate_json(json.dumps(wire), strict=True)
        assert parsed.id == info.id
        assert parsed.created_at.isoformat().startswith(info.created_at[:10])
        assert parsed.capabilities is not None
        assert _unknown_keys(wire, SDKModelInfo) == [], info.id


def test_to_api_fields_selection(catalog: Catalog) -> None:
    info = catalog.get("claude-sonnet-4-5")
    assert catalog.to_api(info, fields=()) == {
        "type": "model",
        "id": "claude-sonnet-4-5-20250929",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    }
    assert set(catalog.to_api(info, fields=["max_tokens"])) == {
        "type",
        "id",
        "display_name",
        "created_at",
        "max_tokens",
    }
    assert set(catalog.to_api(info)) == {"type", "id", "display_name", "created_at", *OPTIONAL_FIELDS}


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
    wire = catalog.to_api(info)
    assert wire["capabilities"] is None
    SDKModelInfo.model_validate_json(json.dumps(wire), strict=True)
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


# -- pagination ---------------------------------------------------------------


def test_list_is_newest_first(catalog: Catalog) -> None:
    listed = catalog.list()
    keys = [(info.created_at, info.id) for info in listed]
    assert keys == sorted(keys, reverse=True)
    same_day = [info.id for info in listed if info.created_at.startswith("2024-10-22")]
    assert same_day == ["claude-3-5-sonnet-20241022", "claude-3-5-haiku-20241022"]
    assert [info.id for info in catalog] == catalog.ids()


def test_first_page(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = catalog.page()
    assert [item["id"] for item in page["data"]] == ids[:20]
    assert page["has_more"] is True
    assert page["first_id"] == ids[0] and page["last_id"] == ids[19]


def test_everything_in_one_page(catalog: Catalog) -> None:
    page = catalog.page(limit=1000)
    assert [item["id"] for item in page["data"]] == catalog.ids()
    assert page["has_more"] is False


def test_after_id(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = catalog.page(after_id=ids[2], limit=3)
    assert [item["id"] for item in page["data"]] == ids[3:6]
    assert page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (ids[3], ids[5])

    last = catalog.page(after_id=ids[-4], limit=3)
    assert [item["id"] for item in last["data"]] == ids[-3:]
    assert last["has_more"] is False

    beyond = catalog.page(after_id=ids[-1])
    assert beyond == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_before_id(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = catalog.page(before_id=ids[10], limit=3)
    assert [item["id"] for item in page["data"]] == ids[7:10]
    assert page["has_more"] is True

    start = catalog.page(before_id=ids[3], limit=3)
    assert [item["id"] for item in start["data"]] == ids[0:3]
    assert start["has_more"] is False

    short = catalog.page(before_id=ids[2], limit=5)
    assert [item["id"] for item in short["data"]] == ids[0:2]
    assert short["has_more"] is False

    nothing = catalog.page(before_id=ids[0])
    assert nothing == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_both_cursors(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = catalog.page(after_id=ids[1], before_id=ids[8], limit=4)
    assert [item["id"] for item in page["data"]] == ids[4:8]
    assert page["has_more"] is True


def test_unknown_cursor(catalog: Catalog) -> None:
    with pytest.raises(KeyError) as info:
        catalog.page(after_id="claude-nope")
    assert info.value.args[0] == "claude-nope"
    with pytest.raises(KeyError):
        catalog.page(before_id="claude-nope")
    with pytest.raises(KeyError):  # a cursor is a listed id, not an alias
        catalog.page(after_id="claude-sonnet-4-5")


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_bad_limit(catalog: Catalog, limit: int) -> None:
    with pytest.raises(ValueError):
        catalog.page(limit=limit)


def test_lifecycle_filter(catalog: Catalog) -> None:
    current = catalog.page(limit=1000, lifecycle=("active", "deprecated"))
    stages = {item["lifecycle"] for item in current["data"]}
    assert stages == {"active", "deprecated"}
    retired_after = catalog.page(after_id="claude-opus-4-8", limit=1000, lifecycle=["retired"])
    assert retired_after["data"][0]["id"] == "claude-mythos-preview"


def sdk_walk(catalog: Catalog, **params) -> list[list[str]]:
    """Pages as the SDK's auto-pagination (``SyncPage``) asks for them."""
    pages = []
    while True:
        page = catalog.page(**params)
        pages.append([item["id"] for item in page["data"]])
        if not page["has_more"]:
            return pages
        if params.get("before_id"):
            if not page["first_id"]:
                return pages
            params = {**params, "before_id": page["first_id"]}
        else:
            if not page["last_id"]:
                return pages
            params = {**params, "after_id": page["last_id"]}


def test_auto_pagination_forwards(catalog: Catalog) -> None:
    ids = catalog.ids()
    pages = sdk_walk(catalog, limit=7)
    assert [len(page) for page in pages[:-1]] == [7] * (len(pages) - 1)
    assert sum(pages, []) == ids


def test_auto_pagination_backwards(catalog: Catalog) -> None:
    ids = catalog.ids()
    pages = sdk_walk(catalog, before_id=ids[-1], limit=5)
    # Each page is in list order; successive pages step back towards the newest.
    expected, end = [], len(ids) - 1
    while end > 0:
        expected.append(ids[max(end - 5, 0) : end])
        end -= 5
    assert pages == expected
    assert sorted(sum(pages, [])) == sorted(ids[:-1])


def serve(catalog: Catalog) -> anthropic.Anthropic:
    """An SDK client with strict response validation whose requests the catalog answers."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/v1/models":
            query = {key: values[-1] for key, values in parse_qs(request.url.query.decode()).items()}
            body = catalog.page(
                after_id=query.get("after_id"),
                before_id=query.get("before_id"),
                limit=int(query.get("limit", 20)),
            )
            return httpx2.Response(200, json=body)
        info = catalog.get(path.removeprefix("/v1/models/"))
        if info is None:
            return httpx2.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "x"}})
        return httpx2.Response(200, json=catalog.to_api(info))

    return anthropic.Anthropic(
        api_key="test",
        base_url="http://dateline.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
        _strict_response_validation=True,
    )


def test_sdk_auto_pagination_and_retrieve(catalog: Catalog) -> None:
    client = serve(catalog)
    ids = catalog.ids()
    assert [model.id for model in client.models.list(limit=6)] == ids
    backwards = [model.id for model in client.models.list(before_id=ids[-1], limit=4)]
    assert backwards == [item for page in sdk_walk(catalog, before_id=ids[-1], limit=4) for item in page]
    first = client.models.list(limit=3)
    assert [model.id for model in first.data] == ids[:3] and first.has_more
    model = client.models.retrieve("claude-3-5-haiku-latest")
    assert model.id == "claude-3-5-haiku-20241022"
    assert model.display_name == "Claude 3.5 Haiku"
    assert model.capabilities is not None and model.capabilities.image_input.supported
