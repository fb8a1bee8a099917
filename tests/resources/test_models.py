"""Models (``GET /v1/models``, ``GET /v1/models/{id}``) through the official SDK
with strict validation, and raw HTTP for paging rules and errors."""

from __future__ import annotations

import math
import typing
from typing import Any

import anthropic
import httpx
import pytest


def page(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get("/v1/models", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids_of(body: dict[str, Any]) -> list[str]:
    return [model["id"] for model in body["data"]]


@pytest.fixture(scope="module")
def all_ids(base_url: str) -> list[str]:
    """Every listed id, newest first, in one page."""
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    body = httpx.get(f"{base_url}/v1/models", params={"limit": 1000}, headers=headers).json()
    assert body["has_more"] is False
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
    expected = [all_ids[max(high - 5, 0):high] for high in range(start, 0, -5)]
    assert pages == expected
    assert [m.id for m in client.models.list(before_id=all_ids[start], limit=5)] == [i for p in expected for i in p]


def test_sdk_retrieve_by_id_and_by_alias(client: anthropic.Anthropic) -> None:
    by_id = client.models.retrieve("claude-sonnet-4-5-20250929")
    by_alias = client.models.retrieve("claude-sonnet-4-5")
    assert by_alias.id == by_id.id == "claude-sonnet-4-5-20250929"
    assert by_alias.model_dump() == by_id.model_dump()
    assert by_id.display_name == "Claude Sonnet 4.5" and by_id.type == "model"


def test_every_model_the_sdk_names_is_retrievable(client: anthropic.Anthropic, all_ids: list[str]) -> None:
    literal = next(arg for arg in typing.get_args(anthropic.types.Model) if typing.get_origin(arg) is typing.Literal)
    names = typing.get_args(literal)
    assert len(names) > 10
    for name in names:
        info = client.models.retrieve(name)
        assert info.id in all_ids, name
        assert info.id == name or name not in all_ids, f"{name} is listed, so it must retrieve as itself"


def test_retrieve_returns_the_listed_object(client: anthropic.Anthropic) -> None:
    for listed in client.models.list(limit=1000):
        assert client.models.retrieve(listed.id).model_dump() == listed.model_dump()


def test_sdk_unknown_model_raises_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("claude-9")
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: claude-9"}


# -- raw HTTP: paging --------------------------------------------------------------------


def test_first_page_defaults_to_twenty(http: httpx.Client, all_ids: list[str]) -> None:
    body = page(http)
    assert set(body) == {"data", "has_more", "first_id", "last_id"}
    assert ids_of(body) == all_ids[:20]
    assert body["has_more"] is True
    assert body["first_id"] == all_ids[0] and body["last_id"] == all_ids[19]


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
    assert response.json() == {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"},
                               "request_id": response.headers["request-id"]}
