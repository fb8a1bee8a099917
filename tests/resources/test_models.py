"""Models (``GET /v1/models``, ``GET /v1/models/{id}``) through the official SDK
with strict validation, raw HTTP for paging rules and errors, and in process
(``resources/models.py`` on the catalog) for the object's shape and every page."""

from __future__ import annotations

import json
import math
import typing
from typing import Any
from urllib.parse import parse_qs

import anthropic
import httpx
import httpx2
import pytest
from anthropic.types import ModelInfo as SDKModelInfo
from pydantic import BaseModel

from dateline.catalog import Catalog, ModelInfo
from dateline.resources._paging import PageQuery
from dateline.resources.models import OPTIONAL_FIELDS, capabilities, lifecycle_filter, model_object, model_page


def page(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get("/v1/models", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids_of(body: dict[str, Any]) -> list[str]:
    return [model["id"] for model in body["data"]]


@pytest.fixture()
def catalog() -> Catalog:
    return Catalog.default()


EVERY_STAGE = ["active", "deprecated", "retired"]


def one_page(base_url: str, **params: Any) -> dict[str, Any]:
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    body = httpx.get(f"{base_url}/v1/models", params={"limit": 1000, **params}, headers=headers).json()
    assert body["has_more"] is False
    return body


@pytest.fixture(scope="module")
def all_ids(base_url: str) -> list[str]:
    """Every id listed by default (active and deprecated models), newest first, in one page."""
    body = one_page(base_url)
    assert len(body["data"]) > 15
    assert {model["lifecycle"] for model in body["data"]} == {"active", "deprecated"}
    return ids_of(body)


@pytest.fixture(scope="module")
def every_id(base_url: str) -> list[str]:
    """Every listed id, retired models too, newest first."""
    body = one_page(base_url, **{"lifecycle[]": EVERY_STAGE})
    assert len(body["data"]) > 30
    return ids_of(body)


# -- the SDK ------------------------------------------------------------------------------


def test_sdk_auto_pagination_walks_every_page(client: anthropic.Anthropic, all_ids: list[str]) -> None:
    first = client.models.list(limit=4)
    pages = list(first.iter_pages())
    assert len(pages) == math.ceil(len(all_ids) / 4)
    assert all(p.has_more is True and len(p.data) == 4 for p in pages[:-1])
    assert pages[-1].has_more is False and 1 <= len(pages[-1].data) <= 4
    assert [m.id for p in pages for m in p.data] == all_ids
    assert [m.id for m in client.models.list(limit=4)] == all_ids
    dates = [m.created_at for p in pages for m in p.data]
    assert dates == sorted(dates, reverse=True), "newest first"


def test_sdk_pages_backwards_with_before_id(client: anthropic.Anthropic, all_ids: list[str]) -> None:
    start = len(all_ids) - 1  # before the oldest: everything else, page by page towards the newest
    walked = client.models.list(before_id=all_ids[start], limit=5)
    pages = [[m.id for m in p.data] for p in walked.iter_pages()]
    expected = [all_ids[max(high - 5, 0) : high] for high in range(start, 0, -5)]
    assert pages == expected
    assert [m.id for m in client.models.list(before_id=all_ids[start], limit=5)] == [i for p in expected for i in p]


def test_sdk_retrieve_by_id_and_by_alias(client: anthropic.Anthropic) -> None:
    by_id = client.models.retrieve("claude-sonnet-4-5-20250929")
    by_alias = client.models.retrieve("claude-sonnet-4-5")
    assert by_alias.id == by_id.id == "claude-sonnet-4-5-20250929"
    assert by_alias.model_dump() == by_id.model_dump()
    assert by_id.display_name == "Claude Sonnet 4.5" and by_id.type == "model"


def test_every_model_the_sdk_names_is_retrievable(client: anthropic.Anthropic, every_id: list[str]) -> None:
    literal = next(arg for arg in typing.get_args(anthropic.types.Model) if typing.get_origin(arg) is typing.Literal)
    names = typing.get_args(literal)
    assert len(names) > 10
    for name in names:
        info = client.models.retrieve(name)
        assert info.id in every_id, name
        assert info.id == name or name not in every_id, f"{name} is listed, so it must retrieve as itself"


def test_retrieve_returns_the_listed_object(client: anthropic.Anthropic) -> None:
    for listed in client.models.list(limit=1000, lifecycle=EVERY_STAGE):
        assert client.models.retrieve(listed.id).model_dump() == listed.model_dump()


def test_sdk_lists_every_model_as_its_model_info(client: anthropic.Anthropic, every_id: list[str]) -> None:
    """Auto-paging through every stage: each model parses strictly as the SDK's ModelInfo,
    with every key it declares and none it does not, and retrieves as the same object."""
    walked = list(client.models.list(limit=7, lifecycle=EVERY_STAGE))
    assert [model.id for model in walked] == every_id
    for model in walked:
        assert isinstance(model, SDKModelInfo) and model.capabilities is not None
        sent = model.to_dict(exclude_unset=False)
        assert key_tree(sent) == declared_tree(SDKModelInfo), model.id
        assert client.models.retrieve(model.id) == model


def test_the_beta_surface_parses_too(client: anthropic.Anthropic, every_id: list[str]) -> None:
    """``client.beta.models`` (``?beta=true``) reads the same objects as its BetaModelInfo."""
    walked = list(client.beta.models.list(limit=20, lifecycle=EVERY_STAGE))
    assert [model.id for model in walked] == every_id
    assert client.beta.models.retrieve("claude-opus-4-8").capabilities.thinking.types.disabled.supported is True


def test_sdk_lifecycle_filter(client: anthropic.Anthropic, all_ids: list[str], every_id: list[str]) -> None:
    assert [m.id for m in client.models.list(limit=5)] == all_ids
    retired = list(client.models.list(limit=5, lifecycle=["retired"]))
    assert retired and {m.lifecycle for m in retired} == {"retired"}
    assert all(m.deprecated_at and m.retires_at and m.deprecated_at < m.retires_at for m in retired)
    assert sorted(all_ids + [m.id for m in retired]) == sorted(every_id)
    deprecated = [m.id for m in client.models.list(lifecycle=["deprecated"])]
    assert "claude-sonnet-4-5-20250929" in deprecated and "claude-opus-4-8" not in deprecated
    # A retired model stays in the catalogue: retrievable, by its alias too.
    old = client.models.retrieve("claude-3-5-haiku-latest")
    assert (old.id, old.lifecycle) == ("claude-3-5-haiku-20241022", "retired")


def test_sdk_unknown_model_raises_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("claude-9")
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: claude-9"}


# -- raw HTTP: paging --------------------------------------------------------------------


def test_first_page_defaults_to_twenty(http: httpx.Client, every_id: list[str]) -> None:
    body = page(http, lifecycle=EVERY_STAGE)
    assert set(body) == {"data", "has_more", "first_id", "last_id"}
    assert ids_of(body) == every_id[:20]
    assert body["has_more"] is True
    assert body["first_id"] == every_id[0] and body["last_id"] == every_id[19]


def test_the_default_list_is_active_and_deprecated_models(http: httpx.Client, all_ids: list[str]) -> None:
    body = page(http)
    assert ids_of(body) == all_ids[:20] and body["has_more"] is (len(all_ids) > 20)
    assert "claude-opus-4-8" in all_ids and "claude-sonnet-4-5-20250929" in all_ids
    assert "claude-2.1" not in all_ids and "claude-mythos-preview" not in all_ids


def test_after_id_continues_where_the_page_ended(http: httpx.Client, all_ids: list[str]) -> None:
    body = page(http, after_id=all_ids[4], limit=3)
    assert ids_of(body) == all_ids[5:8] and body["has_more"] is True
    assert (body["first_id"], body["last_id"]) == (all_ids[5], all_ids[7])
    tail = page(http, after_id=all_ids[-4], limit=3)
    assert ids_of(tail) == all_ids[-3:] and tail["has_more"] is False
    short = page(http, after_id=all_ids[-3], limit=3)
    assert ids_of(short) == all_ids[-2:] and short["has_more"] is False


def test_before_id_takes_the_models_just_before(http: httpx.Client, all_ids: list[str]) -> None:
    body = page(http, before_id=all_ids[10], limit=3)
    assert ids_of(body) == all_ids[7:10] and body["has_more"] is True
    assert (body["first_id"], body["last_id"]) == (all_ids[7], all_ids[9])
    head = page(http, before_id=all_ids[3], limit=3)
    assert ids_of(head) == all_ids[:3] and head["has_more"] is False
    short = page(http, before_id=all_ids[3], limit=5)
    assert ids_of(short) == all_ids[:3] and short["has_more"] is False


def test_both_cursors_bound_a_window(http: httpx.Client, all_ids: list[str]) -> None:
    body = page(http, after_id=all_ids[2], before_id=all_ids[8], limit=10)
    assert ids_of(body) == all_ids[3:8] and body["has_more"] is False
    narrow = page(http, after_id=all_ids[2], before_id=all_ids[8], limit=2)
    assert ids_of(narrow) == all_ids[6:8] and narrow["has_more"] is True


@pytest.mark.parametrize("params", [{"after_id": -1}, {"before_id": 0}], ids=["after-last", "before-first"])
def test_paging_past_either_end_is_an_empty_page(http: httpx.Client, all_ids: list[str], params: dict) -> None:
    cursor, index = next(iter(params.items()))
    body = page(http, **{cursor: all_ids[index]})
    assert body == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize("limit", [1, 1000])
def test_limit_bounds_are_inclusive(http: httpx.Client, all_ids: list[str], limit: int) -> None:
    body = page(http, limit=limit)
    assert ids_of(body) == all_ids[:limit]
    assert body["has_more"] is (limit < len(all_ids))


def test_beta_query_is_ignored(http: httpx.Client, all_ids: list[str]) -> None:
    assert ids_of(page(http, beta="true", limit=2)) == all_ids[:2]


def test_lifecycle_as_a_repeated_parameter(http: httpx.Client, every_id: list[str]) -> None:
    body = page(http, limit=1000, lifecycle=["retired", "active", "deprecated"])
    assert ids_of(body) == every_id
    retired = page(http, limit=1000, lifecycle="retired")
    assert {model["lifecycle"] for model in retired["data"]} == {"retired"}
    assert ids_of(page(http, limit=1000, **{"lifecycle[]": "retired"})) == ids_of(retired)


def test_a_cursor_of_another_stage_still_places_the_page(http: httpx.Client, all_ids: list[str]) -> None:
    # claude-mythos-preview is retired: not listed by default, but a cursor all the same.
    body = page(http, after_id="claude-mythos-preview", limit=1)
    assert ids_of(body) == [all_ids[all_ids.index("claude-opus-4-7") + 1]]


# -- raw HTTP: errors --------------------------------------------------------------------


def assert_invalid(response: httpx.Response, message: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == response.headers["request-id"]
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(message), body


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", "limit: Input should be greater than or equal to 1"),
        ("-3", "limit: Input should be greater than or equal to 1"),
        ("1001", "limit: Input should be less than or equal to 1000"),
        ("abc", "limit: Input should be a valid integer"),
        ("", "limit: Input should be a valid integer"),
        ("2.5", "limit: Input should be a valid integer"),
        ("\uff15", "limit: Input should be a valid integer"),  # a fullwidth 5
    ],
)
def test_bad_limit_is_400(http: httpx.Client, limit: str, message: str) -> None:
    assert_invalid(http.get("/v1/models", params={"limit": limit}), message)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lifecycle[]": "gone"}, "lifecycle.0: Input should be 'active', 'deprecated' or 'retired'"),
        ({"lifecycle": ["active", "Retired"]}, "lifecycle.1: Input should be 'active', 'deprecated' or 'retired'"),
        ({"lifecycle": ""}, "lifecycle.0: Input should be"),
        ({"lifecycle[]": ["active"] * 4}, "lifecycle: List should have at most 3 items after validation, not 4"),
    ],
)
def test_bad_lifecycle_is_400(http: httpx.Client, params: dict[str, Any], message: str) -> None:
    assert_invalid(http.get("/v1/models", params=params), message)


@pytest.mark.parametrize("cursor", ["after_id", "before_id"])
def test_unknown_cursor_is_400_naming_it(http: httpx.Client, cursor: str) -> None:
    assert_invalid(http.get("/v1/models", params={cursor: "claude-9"}), f"{cursor}: ")


def test_the_unknown_one_of_two_cursors_is_named(http: httpx.Client, all_ids: list[str]) -> None:
    response = http.get("/v1/models", params={"after_id": all_ids[1], "before_id": "claude-9"})
    assert_invalid(response, "before_id: ")
    assert "claude-9" in response.json()["error"]["message"]


def test_unknown_model_is_404(http: httpx.Client) -> None:
    response = http.get("/v1/models/claude-9")
    assert response.status_code == 404
    assert response.json() == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-9"},
        "request_id": response.headers["request-id"],
    }


# -- in process: the ModelInfo object -----------------------------------------------------


def _object_type(annotation: Any) -> type[BaseModel] | None:
    """The SDK model a field holds (``Optional[...]`` unwrapped), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def declared_tree(model: type[BaseModel]) -> dict[str, Any]:
    """Every field the SDK type declares, at any depth: ``{name: subtree or None}``."""
    tree = {}
    for name, field in model.model_fields.items():
        sub = _object_type(field.annotation)
        tree[name] = None if sub is None else declared_tree(sub)
    return tree


def key_tree(data: dict[str, Any]) -> dict[str, Any]:
    """The keys of a JSON object at any depth, in the same form."""
    return {key: key_tree(value) if isinstance(value, dict) else None for key, value in data.items()}


def test_the_declared_tree_sees_every_capability() -> None:
    tree = declared_tree(SDKModelInfo)
    assert set(tree["capabilities"]["thinking"]["types"]) == {"adaptive", "between_tools", "disabled", "enabled"}
    assert tree["capabilities"]["effort"]["xhigh"] == {"supported": None}
    assert key_tree({"a": {"b": 1}, "c": None}) == {"a": {"b": None}, "c": None}


def test_every_model_object_has_exactly_the_sdk_fields(catalog: Catalog) -> None:
    """Nothing missing (Optional keys included: the API sends every key), nothing extra."""
    declared = declared_tree(SDKModelInfo)
    for info in catalog.list():
        wire = model_object(info)
        assert list(wire)[:4] == ["type", "id", "display_name", "created_at"]
        assert key_tree(wire) == declared, info.id


def test_every_model_object_validates_strictly_against_the_sdk(catalog: Catalog) -> None:
    for info in catalog.list():
        wire = model_object(info)
        parsed = SDKModelInfo.model_validate_json(json.dumps(wire), strict=True)
        assert SDKModelInfo.model_validate(wire) == parsed
        assert parsed.id == info.id and parsed.lifecycle == info.lifecycle and parsed.line == info.line
        assert parsed.created_at.isoformat().startswith(info.created_at[:10])
        assert parsed.capabilities is not None
        assert parsed.to_dict(mode="json", exclude_unset=False) == wire, info.id  # every value survives the round trip


def test_model_object_fields_selection(catalog: Catalog) -> None:
    info = catalog.get("claude-sonnet-4-5")
    assert model_object(info, fields=()) == {
        "type": "model",
        "id": "claude-sonnet-4-5-20250929",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    }
    assert set(model_object(info, fields=["max_tokens"])) == {
        "type",
        "id",
        "display_name",
        "created_at",
        "max_tokens",
    }
    assert set(model_object(info)) == {"type", "id", "display_name", "created_at", *OPTIONAL_FIELDS}


def test_capabilities_follow_the_features(catalog: Catalog) -> None:
    caps = capabilities(catalog.get("claude-opus-4-8"))
    assert caps["thinking"]["types"]["adaptive"] == {"supported": True}
    assert caps["thinking"]["types"]["enabled"] == {"supported": False}
    assert capabilities(catalog.get("claude-fable-5"))["thinking"]["types"]["disabled"] == {"supported": False}
    assert capabilities(catalog.get("claude-haiku-4-5"))["effort"]["supported"] is False


def test_a_model_of_unknown_features_has_null_capabilities(catalog: Catalog) -> None:
    catalog.add(ModelInfo(id="local-llama", backend="ollama"))
    wire = model_object(catalog.get("local-llama"))
    assert wire["capabilities"] is None
    SDKModelInfo.model_validate_json(json.dumps(wire), strict=True)


# -- in process: pages of the catalog -------------------------------------------------------


def listed(catalog: Catalog, *, lifecycle: Any = None, **cursors: Any) -> dict[str, Any]:
    return model_page(catalog, PageQuery(**cursors), lifecycle=lifecycle)


def test_first_page(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = listed(catalog)
    assert [item["id"] for item in page["data"]] == ids[:20]
    assert page["has_more"] is True
    assert page["first_id"] == ids[0] and page["last_id"] == ids[19]


def test_everything_in_one_page(catalog: Catalog) -> None:
    page = listed(catalog, limit=1000)
    assert [item["id"] for item in page["data"]] == catalog.ids()
    assert page["has_more"] is False


def test_after_id(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = listed(catalog, after_id=ids[2], limit=3)
    assert [item["id"] for item in page["data"]] == ids[3:6]
    assert page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (ids[3], ids[5])

    last = listed(catalog, after_id=ids[-4], limit=3)
    assert [item["id"] for item in last["data"]] == ids[-3:]
    assert last["has_more"] is False

    beyond = listed(catalog, after_id=ids[-1])
    assert beyond == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_before_id(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = listed(catalog, before_id=ids[10], limit=3)
    assert [item["id"] for item in page["data"]] == ids[7:10]
    assert page["has_more"] is True

    start = listed(catalog, before_id=ids[3], limit=3)
    assert [item["id"] for item in start["data"]] == ids[0:3]
    assert start["has_more"] is False

    short = listed(catalog, before_id=ids[2], limit=5)
    assert [item["id"] for item in short["data"]] == ids[0:2]
    assert short["has_more"] is False

    nothing = listed(catalog, before_id=ids[0])
    assert nothing == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_both_cursors(catalog: Catalog) -> None:
    ids = catalog.ids()
    page = listed(catalog, after_id=ids[1], before_id=ids[8], limit=4)
    assert [item["id"] for item in page["data"]] == ids[4:8]
    assert page["has_more"] is True


def test_unknown_cursor(catalog: Catalog) -> None:
    with pytest.raises(KeyError) as info:
        listed(catalog, after_id="claude-nope")
    assert info.value.args[0] == "claude-nope"
    with pytest.raises(KeyError):
        listed(catalog, before_id="claude-nope")
    with pytest.raises(KeyError):  # a cursor is a listed id, not an alias
        listed(catalog, after_id="claude-sonnet-4-5")


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_bad_limit(limit: int) -> None:
    with pytest.raises(ValueError):
        PageQuery(limit=limit)


def test_lifecycle_filter(catalog: Catalog) -> None:
    current = listed(catalog, limit=1000, lifecycle=("active", "deprecated"))
    stages = {item["lifecycle"] for item in current["data"]}
    assert stages == {"active", "deprecated"}
    retired_after = listed(catalog, after_id="claude-opus-4-8", limit=1000, lifecycle=["retired"])
    assert retired_after["data"][0]["id"] == "claude-mythos-preview"


def sdk_walk(catalog: Catalog, **params) -> list[list[str]]:
    """Pages as the SDK's auto-pagination (``SyncPage``) asks for them."""
    pages = []
    while True:
        page = listed(catalog, **params)
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
            lists = parse_qs(request.url.query.decode())
            query = {key: values[-1] for key, values in lists.items()}
            body = listed(
                catalog,
                lifecycle=lifecycle_filter(lists.get("lifecycle[]", [])),
                after_id=query.get("after_id"),
                before_id=query.get("before_id"),
                limit=int(query.get("limit", 20)),
            )
            return httpx2.Response(200, json=body)
        info = catalog.get(path.removeprefix("/v1/models/"))
        if info is None:
            return httpx2.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "x"}})
        return httpx2.Response(200, json=model_object(info))

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
    assert [model.id for model in client.models.list(limit=6, lifecycle=EVERY_STAGE)] == ids
    current = [info.id for info in catalog.list(lifecycle=["active", "deprecated"])]
    assert [model.id for model in client.models.list(limit=6)] == current
    backwards = [model.id for model in client.models.list(before_id=ids[-1], limit=4, lifecycle=EVERY_STAGE)]
    assert backwards == [item for page in sdk_walk(catalog, before_id=ids[-1], limit=4) for item in page]
    first = client.models.list(limit=3)
    assert [model.id for model in first.data] == ids[:3] and first.has_more
    model = client.models.retrieve("claude-3-5-haiku-latest")
    assert model.id == "claude-3-5-haiku-20241022"
    assert model.display_name == "Claude 3.5 Haiku"
    assert model.capabilities is not None and model.capabilities.image_input.supported
